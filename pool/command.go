package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// tailBytes is how much of a command's output is kept for its error.
const tailBytes = 512

// errTail is how much of that tail an error message shows.
const errTail = 200

// ScriptChecker is the "script" health check (keepalived's MISC_CHECK):
// it runs Argv with the realserver's address and port appended as two
// more arguments, and with them in the environment (see Env); exit
// status 0 means up. No shell is involved. When the check's context ends
// (its timeout) the command's whole process group is killed. The check
// error of a failure is the exit status and the tail of the command's
// output (stdout and stderr together).
type ScriptChecker struct {
	// Argv is the command and its first arguments; Argv[0] is a path or
	// a name looked up in PATH.
	Argv []string
	// Pool is the pool's name, given to the command as ALGD_POOL.
	Pool string
	// Source is the pool's backend_source (ALGD_SOURCE), when set.
	Source netip.Addr
}

// Check runs the command for addr.
func (s *ScriptChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	argv := append(append([]string(nil), s.Argv...), addr.Addr().String(), strconv.Itoa(int(addr.Port())))
	env := Env(s.Pool, addr)
	if s.Source.IsValid() {
		env = append(env, "ALGD_SOURCE="+s.Source.String())
	}
	if err := runCommand(ctx, argv, env); err != nil {
		return fmt.Errorf("script check: %w", err)
	}
	return nil
}

// Env is the environment a script check or a notify command gets for
// realserver addr of pool: ALGD_POOL, ALGD_REALSERVER (address:port),
// ALGD_REALSERVER_ADDR and ALGD_REALSERVER_PORT.
func Env(pool string, addr netip.AddrPort) []string {
	return []string{
		"ALGD_POOL=" + pool,
		"ALGD_REALSERVER=" + addr.String(),
		"ALGD_REALSERVER_ADDR=" + addr.Addr().String(),
		"ALGD_REALSERVER_PORT=" + strconv.Itoa(int(addr.Port())),
	}
}

// runCommand runs argv with algd's environment plus env until it exits or
// ctx ends; then its process group is killed. A failure's error carries
// the tail of the output.
func runCommand(ctx context.Context, argv, env []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("no command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out := &tail{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = nil
	ownGroup(cmd)
	// Output pipes a forgotten grandchild holds open do not keep Wait
	// waiting.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s killed after the timeout%s", argv[0], out.suffix())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: %s%s", argv[0], ee.ProcessState, out.suffix())
	}
	return fmt.Errorf("%s: %w", argv[0], err)
}

// tail keeps the last tailBytes written to it.
type tail struct{ b []byte }

// Write keeps the end of p (exec serializes writes to one writer).
func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailBytes {
		t.b = append(t.b[:0], t.b[len(t.b)-tailBytes:]...)
	}
	return len(p), nil
}

// suffix is ": " and the last output, one line, quoted; "" for none.
func (t *tail) suffix() string {
	s := string(bytes.TrimSpace(t.b))
	if s == "" {
		return ""
	}
	if len(s) > errTail {
		s = "..." + s[len(s)-errTail:]
	}
	return fmt.Sprintf(": %q", strings.ReplaceAll(s, "\n", " | "))
}
