package ftpc

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/internal/demo"
)

// serverIP is where the demo servers listen; clients dial from
// 127.0.0.1, the address the demo server's active data comes from.
const serverIP = "127.0.0.21"

// clientIP is the clients' source address.
var clientIP = netip.MustParseAddr("127.0.0.1")

// ioTimeout bounds every blocking step so that a bug fails instead of
// hanging; it is never asserted on.
const ioTimeout = 20 * time.Second

var modes = []Mode{PASV, EPSV, PORT, EPRT}

// startDemo starts a demo FTP server on serverIP serving a fresh
// directory, and closes it at cleanup.
func startDemo(t *testing.T) *demo.Server {
	t.Helper()
	return demo.StartTest(t, demo.Options{Addr: serverIP + ":0", Root: t.TempDir()})
}

// login dials s from clientIP and logs in.
func login(t *testing.T, s *demo.Server) *Client {
	t.Helper()
	return MustLogin(t, s.Addr(), clientIP, ioTimeout, demo.DefaultUser, demo.DefaultPassword)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkTransfer checks the Transfer fields against the demo server s and
// the client c: where the data connection went or came from, and the
// 150 and 226.
func checkTransfer(t *testing.T, s *demo.Server, c *Client, tr Transfer, mode Mode) {
	t.Helper()
	if tr.Mode != mode {
		t.Errorf("Transfer.Mode = %v, want %v", tr.Mode, mode)
	}
	if tr.Prelim.Code != 150 && tr.Prelim.Code != 125 {
		t.Errorf("Prelim = %q, want a 150 or 125", tr.Prelim)
	}
	if tr.Final.Code != 226 && tr.Final.Code != 250 {
		t.Errorf("Final = %q, want a 226 or 250", tr.Final)
	}
	switch mode {
	case PASV, EPSV:
		// The demo server announces its listen IP in 227; EPSV uses the
		// control peer's, the same.
		if tr.Announced.Addr() != s.Addr().Addr() || tr.Announced.Port() == 0 || tr.Announced.Port() == s.Addr().Port() {
			t.Errorf("Announced = %v, want %v with a data port", tr.Announced, s.Addr().Addr())
		}
		if tr.DataPeer != tr.Announced {
			t.Errorf("DataPeer = %v, want the announced %v", tr.DataPeer, tr.Announced)
		}
	case PORT, EPRT:
		if tr.Announced.Addr() != c.LocalAddr().Addr() || tr.Announced.Port() == 0 {
			t.Errorf("Announced = %v, want %v with a port", tr.Announced, c.LocalAddr().Addr())
		}
		// The demo server connects without binding: the kernel picks
		// 127.0.0.1 towards 127.0.0.1, and an ephemeral port.
		if tr.DataPeer.Addr() != clientIP || tr.DataPeer.Port() == 0 || tr.DataPeer.Port() == 20 || tr.DataPeer == tr.Announced {
			t.Errorf("DataPeer = %v, want the server's connection from %v, ephemeral port", tr.DataPeer, clientIP)
		}
	}
}

// TestTransfers uploads, lists and downloads files of 0 B, 1 B and 2 MiB
// in every mode, and checks the bytes on both sides and the Transfer.
func TestTransfers(t *testing.T) {
	sizes := []int{0, 1, 2 << 20}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			s := startDemo(t)
			c := login(t, s)
			for _, size := range sizes {
				name := mode.String() + "-" + strings.Repeat("x", 1+size%7) + ".bin"
				data := randomBytes(t, size)
				before := s.Transfers()
				tr, err := c.Stor(mode, name, data)
				if err != nil {
					t.Fatalf("STOR %d B: %v", size, err)
				}
				checkTransfer(t, s, c, tr, mode)
				onDisk, err := os.ReadFile(filepath.Join(s.Root(), name))
				if err != nil {
					t.Fatal(err)
				}
				if sha256.Sum256(onDisk) != sha256.Sum256(data) {
					t.Errorf("STOR %d B: %d bytes on disk, sha256 differs", size, len(onDisk))
				}

				got, tr, err := c.Retr(mode, name)
				if err != nil {
					t.Fatalf("RETR %d B: %v", size, err)
				}
				checkTransfer(t, s, c, tr, mode)
				if sha256.Sum256(got) != sha256.Sum256(data) {
					t.Errorf("RETR %d B: got %d bytes, sha256 differs", size, len(got))
				}
				if n := s.Transfers() - before; n != 2 {
					t.Errorf("server counted %d transfers, want 2", n)
				}
			}
			for _, cmd := range []string{"LIST", "NLST", "MLSD"} {
				got, tr, err := c.List(mode, cmd, "/")
				if err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				checkTransfer(t, s, c, tr, mode)
				for _, size := range sizes {
					name := mode.String() + "-" + strings.Repeat("x", 1+size%7) + ".bin"
					if !bytes.Contains(got, []byte(name)) {
						t.Errorf("%s lacks %s:\n%s", cmd, name, got)
					}
				}
			}
		})
	}
}

// TestResume covers APPE, REST+RETR and REST+STOR in every mode.
func TestResume(t *testing.T) {
	s := startDemo(t)
	c := login(t, s)
	a, b := randomBytes(t, 100_000), randomBytes(t, 7777)
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			name := "f-" + mode.String()
			if _, err := c.Stor(mode, name, a); err != nil {
				t.Fatal(err)
			}
			tr, err := c.Appe(mode, name, b)
			if err != nil {
				t.Fatalf("APPE: %v", err)
			}
			checkTransfer(t, s, c, tr, mode)
			ab := slices.Concat(a, b)
			tests := []struct {
				name string
				run  func() ([]byte, error)
				want []byte
			}{
				{"APPE", func() ([]byte, error) { return os.ReadFile(filepath.Join(s.Root(), name)) }, ab},
				{"REST 0", func() ([]byte, error) {
					got, _, err := c.RetrFrom(mode, name, 0)
					return got, err
				}, ab},
				{"REST+RETR", func() ([]byte, error) {
					got, tr, err := c.RetrFrom(mode, name, 60_001)
					checkTransfer(t, s, c, tr, mode)
					return got, err
				}, ab[60_001:]},
				{"REST at end", func() ([]byte, error) {
					got, _, err := c.RetrFrom(mode, name, int64(len(ab)))
					return got, err
				}, nil},
				{"REST+STOR", func() ([]byte, error) {
					if _, err := c.StorAt(mode, name, 500, b); err != nil {
						return nil, err
					}
					return os.ReadFile(filepath.Join(s.Root(), name))
				}, slices.Concat(ab[:500], b, ab[500+len(b):])},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					got, err := tc.run()
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, tc.want) {
						t.Errorf("got %d bytes, want %d (content differs)", len(got), len(tc.want))
					}
				})
			}
		})
	}
}

// TestRefused checks refusals: the error carries the server's reply, the
// data side is cleaned up, and the session goes on.
func TestRefused(t *testing.T) {
	s := startDemo(t)
	c := login(t, s)
	third := netip.MustParseAddrPort("127.0.0.2:20000")
	own := netip.AddrPortFrom(c.LocalAddr().Addr(), 20000)
	tests := []struct {
		name string
		run  func() (Reply, error)
		want int // the reply code; 2xx means no error
	}{
		{"PORT to a third party", func() (Reply, error) { return c.SendPORT(third) }, 501},
		{"EPRT to a third party", func() (Reply, error) { return c.SendEPRT(third) }, 501},
		{"PORT to the control peer", func() (Reply, error) { return c.SendPORT(own) }, 200},
		{"EPRT to the control peer", func() (Reply, error) { return c.SendEPRT(own) }, 200},
	}
	for _, mode := range modes {
		tests = append(tests, struct {
			name string
			run  func() (Reply, error)
			want int
		}{"RETR missing " + mode.String(), func() (Reply, error) {
			_, tr, err := c.Retr(mode, "nope")
			if tr.Final.Code != 0 {
				t.Errorf("Final = %q for a refused transfer", tr.Final)
			}
			return tr.Prelim, err
		}, 550})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := tc.run()
			if rep.Code != tc.want {
				t.Errorf("reply %q, want %d", rep, tc.want)
			}
			var re *ReplyError
			switch {
			case tc.want/100 == 2 && err != nil:
				t.Errorf("error %v for a %d", err, tc.want)
			case tc.want/100 != 2 && (!errors.As(err, &re) || re.Reply.Code != tc.want):
				t.Errorf("error %v, want a *ReplyError with %d", err, tc.want)
			}
			if _, err := c.Expect("NOOP", 200); err != nil {
				t.Errorf("NOOP after: %v", err)
			}
		})
	}
}

// TestDial checks the greeting and the addresses of a new client.
func TestDial(t *testing.T) {
	s := startDemo(t)
	tests := []struct {
		name string
		from netip.Addr
		want netip.Addr // the local address; invalid: any
	}{
		{"from 127.0.0.1", clientIP, clientIP},
		{"from 127.0.0.3", netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.3")},
		{"kernel's choice", netip.Addr{}, netip.Addr{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(s.Addr(), tc.from, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if g := c.Greeting(); g.Code != 220 || !strings.Contains(g.String(), demo.DefaultBanner) {
				t.Errorf("greeting %q", g)
			}
			if tc.want.IsValid() && c.LocalAddr().Addr() != tc.want {
				t.Errorf("LocalAddr = %v, want %v", c.LocalAddr(), tc.want)
			}
			if c.RemoteAddr() != s.Addr() {
				t.Errorf("RemoteAddr = %v, want %v", c.RemoteAddr(), s.Addr())
			}
			if err := c.Login(demo.DefaultUser, "wrong"); err == nil {
				t.Errorf("login with a wrong password succeeded")
			}
		})
	}
}

// TestPortOverride listens for active data on the given port.
func TestPortOverride(t *testing.T) {
	const port = 20555 // below the kernel's ephemeral range
	s := startDemo(t)
	data := randomBytes(t, 4096)
	if err := os.WriteFile(filepath.Join(s.Root(), "x"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := login(t, s)
	c.PortOverride = port
	for _, mode := range []Mode{PORT, EPRT, PORT} { // twice: the port is free again
		got, tr, err := c.Retr(mode, "x")
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if tr.Announced != netip.AddrPortFrom(clientIP, port) {
			t.Errorf("%v: Announced = %v, want %v:%d", mode, tr.Announced, clientIP, port)
		}
		checkTransfer(t, s, c, tr, mode)
		if !bytes.Equal(got, data) {
			t.Errorf("%v: got %d bytes, content differs", mode, len(got))
		}
	}
}
