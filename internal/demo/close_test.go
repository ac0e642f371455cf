package demo

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jlaffaye/ftp"
)

// sparseSize is far more than loopback socket buffers hold, so a download
// of it is still running when the test closes the server.
const sparseSize = 1 << 30

// zeros is an endless reader of zero bytes that reports once it has been
// read from more than n bytes.
type zeros struct {
	n       int
	read    int
	started chan struct{}
	once    sync.Once
}

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.read += len(p)
	if z.read > z.n {
		z.once.Do(func() { close(z.started) })
	}
	return len(p), nil
}

// TestClose checks that Close cuts clients, idle or mid-transfer, like a
// realserver being killed, and that the client's next command fails.
func TestClose(t *testing.T) {
	tests := []struct {
		name string
		// during runs with a logged-in client; it calls closeServer while
		// the client is busy, and reports whether its transfer failed.
		during func(t *testing.T, c *ftp.ServerConn, s *Server, closeServer func()) error
	}{
		{"idle", func(t *testing.T, c *ftp.ServerConn, s *Server, closeServer func()) error {
			closeServer()
			return errors.New("no transfer")
		}},
		{"mid-download", func(t *testing.T, c *ftp.ServerConn, s *Server, closeServer func()) error {
			f, err := os.Create(filepath.Join(s.Root(), "huge"))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(sparseSize); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := c.Retr("huge")
			if err != nil {
				t.Fatalf("RETR: %v", err)
			}
			if _, err := io.ReadFull(r, make([]byte, 1<<20)); err != nil {
				t.Fatalf("first MiB: %v", err)
			}
			closeServer()
			n, err := io.Copy(io.Discard, r)
			if err == nil && n+1<<20 == sparseSize {
				return r.Close() // got it all: the server was not cut
			}
			if err := r.Close(); err == nil {
				return errors.New("226 after a cut download")
			}
			return errors.New("cut")
		}},
		{"mid-upload", func(t *testing.T, c *ftp.ServerConn, s *Server, closeServer func()) error {
			z := &zeros{n: 1 << 20, started: make(chan struct{})}
			done := make(chan error, 1)
			go func() { done <- c.Stor("up", io.LimitReader(z, sparseSize)) }()
			<-z.started
			closeServer()
			return <-done
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(Options{Addr: serverIP + ":0"})
			if err != nil {
				t.Fatal(err)
			}
			c := login(t, s)
			if n := s.Clients(); n != 1 {
				t.Errorf("Clients() = %d with one client logged in, want 1", n)
			}
			closeServer := func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			if err := tc.during(t, c, s, closeServer); err == nil {
				t.Errorf("the transfer succeeded across Close")
			}
			if err := c.NoOp(); err == nil {
				t.Errorf("NOOP after Close succeeded")
			}
			if n := s.Transfers(); n != 0 {
				t.Errorf("Transfers() = %d, want 0 (cut transfers do not count)", n)
			}
			if n := s.Clients(); n != 0 {
				t.Errorf("Clients() = %d after Close, want 0", n)
			}
			if _, err := os.Stat(s.Root()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temporary root %s still there after Close: %v", s.Root(), err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := ftp.Dial(s.Addr().String(), ftp.DialWithTimeout(ioTimeout)); err == nil {
				t.Errorf("Dial after Close succeeded")
			}
		})
	}
}

// TestRoot serves a given directory, creating it, and keeps it on Close.
func TestRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	s, err := Start(Options{Addr: serverIP + ":0", Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if s.Root() != root {
		t.Errorf("Root() = %q, want %q", s.Root(), root)
	}
	if err := os.WriteFile(filepath.Join(root, "x"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := login(t, s)
	if got := retr(t, c, "x", 0); string(got) != "hello" {
		t.Errorf("RETR x = %q, want %q", got, "hello")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "x")); err != nil {
		t.Errorf("given root emptied by Close: %v", err)
	}
}

// TestStartErrors rejects bad options.
func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"bad addr", Options{Addr: "127.0.0.21"}},
		{"addr in use", Options{Addr: ""}}, // filled in below
		{"range reversed", Options{Addr: serverIP + ":0", PassiveFirst: 20010, PassiveLast: 20000}},
		{"range half set", Options{Addr: serverIP + ":0", PassiveFirst: 20010}},
		{"public host IPv6", Options{Addr: serverIP + ":0", PublicHost: "::1"}},
		{"public host name", Options{Addr: serverIP + ":0", PublicHost: "localhost"}},
	}
	busy := startServer(t, Options{})
	tests[1].o.Addr = busy.Addr().String()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(tc.o)
			if err == nil {
				_ = s.Close()
				t.Fatalf("Start(%+v) succeeded", tc.o)
			}
		})
	}
}
