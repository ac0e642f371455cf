package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...";
// dist/mkdeb sets it to the package's version. Left at "dev", the version
// comes from the build info (buildVersion).
var version = "dev"

// buildVersion returns algd's version: the one set with -X; else the
// module version of a `go install ...@vX.Y.Z`; else the VCS revision the
// go command stamped (12 digits, "-dirty" when the tree had changes);
// else "dev".
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(version, bi)
}

// versionOf is buildVersion over an explicit -X value and build info.
func versionOf(set string, bi *debug.BuildInfo) string {
	if set != "" && set != "dev" {
		return set
	}
	if bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// versionLine is what `algd version` prints: the version, then what the
// build info says about the source (revision, its time, whether the tree
// had changes) and the Go version.
func versionLine(v string, bi *debug.BuildInfo) string {
	if bi == nil {
		return "algd " + v
	}
	var extra []string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && !strings.HasPrefix(s.Value, strings.TrimSuffix(v, "-dirty")):
			extra = append(extra, "revision "+s.Value)
		case s.Key == "vcs.time":
			extra = append(extra, s.Value)
		case s.Key == "vcs.modified" && s.Value == "true" && !strings.HasSuffix(v, "-dirty"):
			extra = append(extra, "modified")
		}
	}
	extra = append(extra, bi.GoVersion)
	return fmt.Sprintf("algd %s (%s)", v, strings.Join(extra, ", "))
}

// cmdVersion prints versionLine.
func cmdVersion(args []string) error {
	if err := parseFlags(newFlagSet("version"), args); err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(os.Stdout, versionLine(versionOf(version, bi), bi))
	return nil
}
