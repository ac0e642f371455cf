# bash completion for algd(8): its commands, the flags of each, and files
# for -c and -pid. Installed as /usr/share/bash-completion/completions/algd.
# cmd/algd/usage_test.go keeps it in step with the commands and flags.

_algd() {
	local cur prev cmd
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	COMPREPLY=()

	case $prev in
	-c | -pid | -token-file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-admin | -listen | -passive-ports | -timeout)
		return
		;;
	esac

	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "run check demo status reload upgrade realserver session ipvs version help" -- "$cur"))
		return
	fi
	cmd=${COMP_WORDS[1]}
	if [ "$cmd" = ipvs ]; then
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "plan status" -- "$cur"))
			return
		fi
		cmd="ipvs ${COMP_WORDS[2]}"
	fi

	local flags
	case $cmd in
	run | check | "ipvs plan" | "ipvs status") flags="-c" ;;
	demo) flags="-listen -passive-ports -v" ;;
	status) flags="-c -admin -token-file -json" ;;
	reload) flags="-c -pid -admin -token-file -wait -timeout" ;;
	upgrade) flags="-c -pid" ;;
	realserver | session) flags="-c -admin -token-file" ;;
	help) flags="run check demo status reload upgrade realserver session ipvs version" ;;
	*) flags="" ;;
	esac
	COMPREPLY=($(compgen -W "$flags -h" -- "$cur"))
}
complete -F _algd algd
