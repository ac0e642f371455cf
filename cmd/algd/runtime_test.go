package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/daemon"
	"github.com/algd/algd/internal/demo"
	"github.com/algd/algd/internal/logbuf"
	ftpc "github.com/jlaffaye/ftp"
)

// TestCLIRuntimeControl runs algd as `algd run` does (daemon.Serve with
// this process's signals) and drives it with the subcommands, each given
// only -c: status; drain of a realserver, after which new sessions all
// go to the other one (counted on the ftpds); show, disable, enable;
// reload -wait of a file algd refuses (its listener address is taken),
// which fails with algd's error, and of a good file, which succeeds and
// ends the runtime changes.
func TestCLIRuntimeControl(t *testing.T) {
	dir := t.TempDir()
	one := demo.StartTest(t, demo.Options{Addr: "127.0.0.21:0"})
	two := demo.StartTest(t, demo.Options{Addr: "127.0.0.22:0"})
	free := func(ip string) string {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	vip, adminAddr := free("127.0.0.1"), free("127.0.0.1")
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("cli-token-93e1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(extraListen string) string {
		listen := fmt.Sprintf("%q", vip)
		if extraListen != "" {
			listen += fmt.Sprintf(", %q", extraListen)
		}
		return fmt.Sprintf(`[[pool]]
name = "p"
health = { kind = "tcp", interval = "200ms" }
realservers = [{ address = %q }, { address = %q }]

[[ftp]]
name = "vip"
listen = [%s]
pool = "p"
passive_ports = "63500-63599"

[admin]
listen = %q
pid_file = %q
token_file = %q
`, one.Addr(), two.Addr(), listen, adminAddr, filepath.Join(dir, "algd.pid"), filepath.Join(dir, "token"))
	}
	cfgPath := filepath.Join(dir, "algd.toml")
	write := func(text string) {
		if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(config(""))
	cfg, err := conf.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- daemon.Serve(cfg, cfgPath, daemon.Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), KernelOff: "in-process test"})
	}()
	t.Cleanup(func() {
		syscall.Kill(os.Getpid(), syscall.SIGTERM) // daemon.Serve has it, not the test
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(time.Minute):
			t.Error("algd did not stop")
		}
		if t.Failed() {
			t.Logf("algd log:\n%s", logs.String())
		}
	})
	run := func(cmd func([]string, *bytes.Buffer) error, args ...string) (string, error) {
		var out bytes.Buffer
		err := cmd(args, &out)
		return out.String(), err
	}
	status := func(args []string, out *bytes.Buffer) error { return cmdStatus(args, out) }
	rs := func(args []string, out *bytes.Buffer) error { return cmdRealserver(args, out) }
	reload := func(args []string, out *bytes.Buffer) error { return cmdReload(args, out) }

	var out string
	for deadline := time.Now().Add(30 * time.Second); ; {
		if out, err = run(status, "-c", cfgPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("algd status -c: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out, one.Addr().String()) || !strings.Contains(out, two.Addr().String()) {
		t.Fatalf("status does not show both realservers:\n%s", out)
	}

	if out, err = run(rs, "-c", cfgPath, "p", one.Addr().String(), "drain"); err != nil || !strings.Contains(out, "drained weight 0") {
		t.Fatalf("realserver drain: %q, %v", out, err)
	}
	var conns []*ftpc.ServerConn
	for range 4 {
		c, err := ftpc.Dial(vip, ftpc.DialWithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		if err := c.Login("demo", "demo"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if n1, n2 := one.Clients(), two.Clients(); n1 != 0 || n2 != 4 {
		t.Errorf("after drain: %d sessions on the drained ftpd, %d on the other; want 0 and 4", n1, n2)
	}
	for _, c := range conns {
		c.Quit()
	}
	for _, step := range []struct{ action, want string }{
		{"show", "drained weight 0"}, {"disable", "disabled weight 0"}, {"enable", "drained weight 0"},
	} {
		if out, err = run(rs, "-c", cfgPath, "p", one.Addr().String(), step.action); err != nil || !strings.Contains(out, step.want) {
			t.Errorf("realserver %s: %q, %v; want %q", step.action, out, err, step.want)
		}
	}
	if _, err = run(rs, "-c", cfgPath, "-token-file", "/nonexistent", "p", one.Addr().String(), "enable"); err == nil {
		t.Error("an unreadable token file was not an error")
	}

	// A file algd refuses: one of its listen addresses is taken.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	write(config(taken.Addr().String()))
	out, err = run(reload, "-c", cfgPath, "-wait", "-timeout", "20s")
	if err == nil || !strings.Contains(err.Error(), "reload refused") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reload -wait of a refused file: %q, %v; want the refusal and its reason", out, err)
	}
	// A file with errors never reaches algd.
	write(config("") + "\n[[pool]\n")
	if _, err = run(reload, "-c", cfgPath, "-wait"); err == nil || !strings.Contains(err.Error(), "the new file has errors") {
		t.Errorf("reload -wait of a broken file: %v", err)
	}
	write(config(""))
	if out, err = run(reload, "-c", cfgPath, "-wait"); err != nil || !strings.Contains(out, "reloaded") {
		t.Fatalf("reload -wait of a good file: %q, %v", out, err)
	}
	if out, err = run(rs, "-c", cfgPath, "p", one.Addr().String(), "show"); err != nil || !strings.Contains(out, " up weight 1") {
		t.Errorf("after the reload: %q, %v; want the file's weight back", out, err)
	}
}
