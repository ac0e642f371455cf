package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/demo"
	"github.com/algd/algd/internal/logbuf"
	ftpc "github.com/jlaffaye/ftp"
)

// farm is a set of demo ftpds sharing one folder, holding one test file.
type farm struct {
	root    string
	servers []*demo.Server
	file    string // name of the test file in root
	sum     [32]byte
}

// newFarm starts one demo ftpd on each IP, serving a file of size bytes.
func newFarm(t *testing.T, size int, ips ...string) *farm {
	t.Helper()
	f := &farm{root: t.TempDir(), file: "payload.bin"}
	data := make([]byte, size)
	rand.Read(data)
	f.sum = sha256.Sum256(data)
	if err := os.WriteFile(filepath.Join(f.root, f.file), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		s := demo.StartTest(t, demo.Options{Addr: ip + ":0", Root: f.root})
		f.servers = append(f.servers, s)
	}
	return f
}

// dialTCP connects to addr, with 10 s for the whole conversation; the
// caller closes the connection.
func dialTCP(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// freePort returns a TCP port free on ip now.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// daemonRun is an algd started by runDaemon with a config file in a
// temporary folder and signals from the test.
type daemonRun struct {
	t     *testing.T
	path  string
	admin string
	sig   chan os.Signal
	done  chan struct{} // closed when runDaemon returned, with err
	err   error
	logs  *logbuf.Buffer
}

// startDaemon writes text (with ADMIN replaced by a free admin address) and
// runs it.
func startDaemon(t *testing.T, text string) *daemonRun {
	t.Helper()
	return startDaemonAt(t, text, slog.LevelInfo)
}

// startDaemonAt is startDaemon logging from level on.
func startDaemonAt(t *testing.T, text string, level slog.Level) *daemonRun {
	t.Helper()
	return startDaemonLog(t, text, level, false)
}

// startDaemonLog is startDaemonAt, logging JSON lines when asJSON.
func startDaemonLog(t *testing.T, text string, level slog.Level, asJSON bool) *daemonRun {
	t.Helper()
	return startDaemonWith(t, text, level, asJSON, Options{})
}

// startDaemonWith is startDaemonLog with further options (its Logger and
// Level are the test's).
func startDaemonWith(t *testing.T, text string, level slog.Level, asJSON bool, o Options) *daemonRun {
	t.Helper()
	r := &daemonRun{t: t, path: filepath.Join(t.TempDir(), "algd.toml"), sig: make(chan os.Signal, 1),
		done: make(chan struct{}), logs: &logbuf.Buffer{}}
	r.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	r.write(text)
	cfg, err := conf.Load(r.path)
	if err != nil {
		t.Fatal(err)
	}
	lv := new(slog.LevelVar)
	lv.Set(level)
	var h slog.Handler = slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: lv})
	if asJSON {
		h = slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: lv})
	}
	log := slog.New(h)
	go func() {
		o.Logger, o.Level = log, lv
		if o.KernelOff == "" && o.Kernel == nil {
			o.KernelOff = "in-package test"
		}
		r.err = runDaemon(cfg, r.path, o, r.sig)
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
			return
		default:
		}
		r.sig <- syscall.SIGTERM
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			t.Error("algd did not stop")
		}
		if t.Failed() {
			t.Logf("algd log:\n%s", r.logs.String())
		}
	})
	r.waitStatus(func(st admin.Status) bool { return true })
	return r
}

// write replaces the config file.
func (r *daemonRun) write(text string) {
	r.t.Helper()
	text = strings.ReplaceAll(text, "ADMIN", r.admin)
	if err := os.WriteFile(r.path, []byte(text), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// status reads /status.
func (r *daemonRun) status() (admin.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return admin.Fetch(ctx, nil, r.admin)
}

// waitStatus polls /status until ok holds (or fails the test after a
// generous deadline) and returns the status that satisfied it.
func (r *daemonRun) waitStatus(ok func(admin.Status) bool) admin.Status {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.status()
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("status never as wanted: %+v, %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reload writes text, sends SIGHUP and waits until the reload is counted;
// it returns the status after it.
func (r *daemonRun) reload(text string) admin.Status {
	r.t.Helper()
	before, err := r.status()
	if err != nil {
		r.t.Fatal(err)
	}
	n := before.Reloads.OK + before.Reloads.Failed
	r.write(text)
	r.sig <- syscall.SIGHUP
	return r.waitStatus(func(st admin.Status) bool { return st.Reloads.OK+st.Reloads.Failed > n })
}

// download logs in at addr and fetches the farm's file, reading slowly
// (pause between chunks) so the transfer stays in flight for a while, and
// checks every byte. started, when set, is closed after the first chunk.
func download(addr, file string, sum [32]byte, pause time.Duration, started chan<- struct{}) error {
	return downloadFrom("", addr, file, sum, pause, started)
}

// downloadFrom is download from the client address src ("": any).
func downloadFrom(src, addr, file string, sum [32]byte, pause time.Duration, started chan<- struct{}) error {
	dialer := net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := ftpc.Dial(addr, ftpc.DialWithDialer(dialer))
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Quit()
	if err := c.Login("demo", "demo"); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	resp, err := c.Retr(file)
	if err != nil {
		return fmt.Errorf("retr: %w", err)
	}
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for first := true; ; first = false {
		n, err := io.ReadFull(resp, buf)
		h.Write(buf[:n])
		if first && started != nil {
			close(started)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			resp.Close()
			return fmt.Errorf("read: %w", err)
		}
		time.Sleep(pause)
	}
	if err := resp.Close(); err != nil {
		return fmt.Errorf("transfer reply: %w", err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum[:]) {
		return fmt.Errorf("content differs from the file")
	}
	return nil
}

// ioReadFull reads until buf is full or the stream ends.
func ioReadFull(r io.Reader, buf []byte) (int, error) { return io.ReadFull(r, buf) }
