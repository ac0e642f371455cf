//go:build linux && interop

package nat

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnprivileged runs Open and Probe as user nobody (no capabilities)
// in the director namespace: Open fails naming CAP_NET_ADMIN, Probe
// says the path is unusable for the same reason, and nothing was made.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("ALGD_NAT_UNPRIVILEGED") == "1" {
		_, err := Open(context.Background(), Options{})
		fmt.Printf("open: %v\n", err)
		fmt.Printf("probe: %+v\n", Probe(Options{}))
		return
	}
	tp := newTopology(t)
	// A copy of this binary that nobody may run (go test's directory
	// is the invoking user's alone).
	dir, err := os.MkdirTemp("", "algd-nat-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "nat.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var out []byte
	err = inNetNS(tp.director, func() error {
		cmd := exec.Command(bin, "-test.run", "^TestUnprivileged$")
		cmd.Env = append(os.Environ(), "ALGD_NAT_UNPRIVILEGED=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var err error
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "open: nat: ") || !strings.Contains(s, "needs CAP_NET_ADMIN") {
		t.Errorf("Open as nobody: want an error naming CAP_NET_ADMIN:\n%s", s)
	}
	if !strings.Contains(s, "probe: {Missing:[CAP_NET_ADMIN") {
		t.Errorf("Probe as nobody:\n%s", s)
	}
	if n := len(run(t, "ip", "netns", "exec", tp.names[1], "nft", "list", "tables")); n != 0 {
		t.Errorf("tables made by an unprivileged Open")
	}
	t.Logf("%s", out)
}
