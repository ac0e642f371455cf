package peers

import (
	"fmt"
	"strings"
)

// lftpArgs is lftp's command line for req: plain FTP (lftp tries AUTH TLS
// by default), bound to req.Source, EPSV or PASV by ftp:prefer-epsv, and
// trusting the 227 address (ftp:fix-pasv-address would otherwise replace
// a loopback or private address by the control peer's). -d traces the
// control channel ("<--- 227 ...") and the data connects.
func lftpArgs(req Request) []string {
	epsv := "no"
	if req.Mode == EPSV {
		epsv = "yes"
	}
	cmds := []string{
		"set ftp:ssl-allow no",
		"set ftp:passive-mode yes",
		"set ftp:prefer-epsv " + epsv,
		"set ftp:fix-pasv-address no",
		"set ftp:ignore-pasv-address no",
		"set net:max-retries 1",
		"set net:timeout 15",
		"set net:reconnect-interval-base 1",
		"set cmd:fail-exit yes",
		"set xfer:clobber yes",
		"set cache:enable no",
	}
	if req.Source.IsValid() {
		cmds = append(cmds, "set net:socket-bind-ipv4 "+req.Source.String())
	}
	cmds = append(cmds, fmt.Sprintf("open -u %s,%s -p %d %s",
		req.User, req.Password, req.Server.Port(), req.Server.Addr()))
	switch req.Op {
	case Upload:
		cmds = append(cmds, fmt.Sprintf("put %s -o %s", req.Local, req.Remote))
	case Download:
		cmds = append(cmds, fmt.Sprintf("get %s -o %s", req.Remote, req.Local))
	case List:
		cmds = append(cmds, fmt.Sprintf("ls %s > %s", req.Remote, req.Local))
	}
	cmds = append(cmds, "quit")
	return []string{"lftp", "-d", "-c", strings.Join(cmds, "; ")}
}
