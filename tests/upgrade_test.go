package tests

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/algd/algd/internal/demo"
	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/inproc"
)

// slowGet logs in at vip from src and downloads name, pausing between
// 256 KiB chunks, and compares the bytes' sha256 with sum. started, when
// set, is closed after the first chunk.
func slowGet(src string, vip netip.AddrPort, name string, sum [32]byte, pause time.Duration, started chan<- struct{}) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := ftpc.Dial(vip.String(), ftpc.DialWithDialer(d))
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Quit()
	if err := c.Login("demo", "demo"); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	r, err := c.Retr(name)
	if err != nil {
		return fmt.Errorf("retr: %w", err)
	}
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for first := true; ; first = false {
		n, err := io.ReadFull(r, buf)
		h.Write(buf[:n])
		if first && started != nil {
			close(started)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			r.Close()
			return fmt.Errorf("read: %w", err)
		}
		time.Sleep(pause)
	}
	if err := r.Close(); err != nil {
		return fmt.Errorf("transfer reply: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), sum[:]) {
		return errors.New("content differs from the file")
	}
	return nil
}

// TestUpgradeBinary upgrades the built algd under load the way an
// operator does: `algd upgrade -c FILE` sends SIGUSR2, algd starts its
// binary again, the new process takes the listening sockets over the
// takeover socket and the old one drains. Four slow downloads on the old
// process complete byte-exact, four clients looping over new sessions
// are all served (no connection refused), the pid file names the new
// process, and the old one exits once its transfers ended.
func TestUpgradeBinary(t *testing.T) {
	bin, err := algdrun.Build(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	data := make([]byte, 2<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	if err := os.WriteFile(filepath.Join(root, "payload.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	rs := demo.StartTest(t, demo.Options{Addr: "127.0.0.46:0", Root: root})
	vip, adm := inproc.FreePort(t, "127.0.0.47"), inproc.FreePort(t, "127.0.0.47")
	dir := t.TempDir()
	pidFile, sock := filepath.Join(dir, "algd.pid"), filepath.Join(dir, "takeover.sock")
	text := fmt.Sprintf(`[[pool]]
name = "p"
health = { kind = "tcp", interval = "500ms" }
  [[pool.realservers]]
  address = %q

[[ftp]]
name = "vip"
listen = [%q]
pool = "p"
passive_ports = "61860-61869"

[admin]
listen = %q
shutdown_timeout = "60s"
pid_file = %q
takeover_socket = %q

[log]
format = "json"
`, rs.Addr(), vip, adm, pidFile, sock)
	old := algdrun.StartTOML(t, bin, text, []netip.AddrPort{vip}, algdrun.Options{})
	t.Cleanup(func() {
		// The new algd is the old one's child: stop it by the id in the
		// pid file.
		if pid, err := readPIDFile(pidFile); err == nil && pid != old.PID() {
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	})

	var slow sync.WaitGroup
	slowErrs := make([]error, 4)
	for i := range slowErrs {
		started := make(chan struct{})
		slow.Go(func() {
			slowErrs[i] = slowGet(fmt.Sprintf("127.0.0.4%d", i+1), vip, "payload.bin", sum, 400*time.Millisecond, started)
		})
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("slow download did not start")
		}
	}
	var (
		stop            = make(chan struct{})
		load            sync.WaitGroup
		mu              sync.Mutex
		loadErrs        []error
		refused, served atomic.Int64
		servedAfterOld  atomic.Int64
		oldGone         atomic.Bool
	)
	for i := range 4 {
		load.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n > 0 {
						return
					}
				default:
				}
				err := slowGet(fmt.Sprintf("127.0.0.5%d", i+1), vip, "payload.bin", sum, 0, nil)
				switch {
				case err == nil:
					served.Add(1)
					if oldGone.Load() {
						servedAfterOld.Add(1)
					}
				case errors.Is(err, syscall.ECONNREFUSED):
					refused.Add(1)
					fallthrough
				default:
					mu.Lock()
					loadErrs = append(loadErrs, fmt.Errorf("client %d session %d: %w", i, n, err))
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)

	out, err := exec.Command(bin, "upgrade", "-c", old.Config).CombinedOutput()
	if err != nil {
		t.Fatalf("algd upgrade: %v\n%s", err, out)
	}
	t.Logf("algd upgrade: %s", strings.TrimSpace(string(out)))
	newPID, err := readPIDFile(pidFile)
	if err != nil || newPID == old.PID() {
		t.Fatalf("pid file after the upgrade: %d, %v (old pid %d)", newPID, err, old.PID())
	}
	deadline := time.Now().Add(90 * time.Second)
	for !old.Exited() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !old.Exited() {
		t.Fatal("the old algd did not exit after the upgrade")
	}
	oldGone.Store(true)
	slow.Wait()
	for i, err := range slowErrs {
		if err != nil {
			t.Errorf("slow download %d across the upgrade: %v", i, err)
		}
	}
	for servedAfterOld.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	load.Wait()
	t.Logf("sessions served %d (%d by the new algd alone), refused %d, failed %d",
		served.Load(), servedAfterOld.Load(), refused.Load(), len(loadErrs))
	if refused.Load() != 0 {
		t.Errorf("%d connections refused during the upgrade", refused.Load())
	}
	for _, err := range loadErrs {
		t.Error(err)
	}
	if servedAfterOld.Load() < 8 {
		t.Errorf("the new algd served %d sessions alone, want 8", servedAfterOld.Load())
	}
	if syscall.Kill(newPID, 0) != nil {
		t.Errorf("the new algd (pid %d) is not running", newPID)
	}
	if log := old.Log(); !strings.Contains(log, "taken over by pid "+strconv.Itoa(newPID)) {
		t.Errorf("the old algd did not log the takeover by %d:\n%s", newPID, old.Tail(30))
	}
}

// readPIDFile reads the process id algd wrote to path.
func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
