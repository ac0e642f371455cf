// Command mkdeb builds algd's Debian package with nfpm: the binary (its
// version set from git), /etc/algd/algd.toml as a conffile, the systemd
// unit, the man pages algd(8) and algd.toml(5)
// (rendered from dist/man/algd.8.md and docs/configuration.md), the bash
// completion and the docs. Run from anywhere in the repository:
//
//	go run ./dist/mkdeb -o dist/out
//
// It prints the path of the .deb it wrote.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
)

func main() {
	var o options
	flag.StringVar(&o.out, "o", "dist/out", "directory the .deb is written to")
	flag.StringVar(&o.version, "version", "", "package version (default: from git, 0.0~git<commit time>.<revision>)")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "GOARCH to build for (the package's architecture)")
	flag.StringVar(&o.maintainer, "maintainer", "algd maintainers <algd@example.org>", "Maintainer field")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mkdeb: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	root, err := repoRoot()
	if err == nil {
		o.root = root
		var path string
		path, err = build(o)
		if err == nil {
			fmt.Println(path)
			return
		}
	}
	fmt.Fprintln(os.Stderr, "mkdeb:", err)
	os.Exit(1)
}
