package demo

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jlaffaye/ftp"
)

// TestTransfers uploads, lists and downloads files of several sizes in both
// passive modes, and checks bytes on both sides and the transfer count.
func TestTransfers(t *testing.T) {
	modes := []struct {
		name string
		opts []ftp.DialOption
	}{
		{"EPSV+MLSD", nil},
		{"PASV+LIST", []ftp.DialOption{ftp.DialWithDisabledEPSV(true), ftp.DialWithDisabledMLSD(true)}},
	}
	files := []struct {
		name string
		size int
	}{
		{"empty.bin", 0},
		{"one.bin", 1},
		{"big.bin", 3 << 20},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := startServer(t, Options{})
			c := login(t, s, m.opts...)
			want := map[string][]byte{}
			for _, f := range files {
				data := randomBytes(t, f.size)
				want[f.name] = data
				before := s.Transfers()
				if err := c.Stor(f.name, bytes.NewReader(data)); err != nil {
					t.Fatalf("STOR %s: %v", f.name, err)
				}
				if got := s.Transfers(); got != before+1 {
					t.Errorf("STOR %s: Transfers %d, want %d", f.name, got, before+1)
				}
				// The 226 came after the file was complete on disk.
				onDisk, err := os.ReadFile(filepath.Join(s.Root(), f.name))
				if err != nil {
					t.Fatalf("STOR %s: %v", f.name, err)
				}
				if sum(onDisk) != sum(data) {
					t.Errorf("STOR %s: on disk %d bytes, sha256 differs from the %d sent", f.name, len(onDisk), len(data))
				}
				size, err := c.FileSize(f.name)
				if err != nil || size != int64(f.size) {
					t.Errorf("SIZE %s = %d, %v; want %d", f.name, size, err, f.size)
				}
			}

			entries, err := c.List("/")
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			listed := map[string]uint64{}
			for _, e := range entries {
				listed[e.Name] = e.Size
			}
			names, err := c.NameList("/")
			if err != nil {
				t.Fatalf("NLST: %v", err)
			}
			for _, f := range files {
				if size, ok := listed[f.name]; !ok || size != uint64(f.size) {
					t.Errorf("list: %s has size %d (listed %v), want %d", f.name, size, ok, f.size)
				}
				if !slices.ContainsFunc(names, func(n string) bool { return filepath.Base(n) == f.name }) {
					t.Errorf("NLST %v lacks %s", names, f.name)
				}
			}

			for _, f := range files {
				before := s.Transfers()
				got := retr(t, c, f.name, 0)
				if sum(got) != sum(want[f.name]) {
					t.Errorf("RETR %s: got %d bytes, sha256 differs", f.name, len(got))
				}
				if n := s.Transfers(); n != before+1 {
					t.Errorf("RETR %s: Transfers %d, want %d", f.name, n, before+1)
				}
			}
		})
	}
}

// retr downloads name from offset (REST when not 0).
func retr(t *testing.T, c *ftp.ServerConn, name string, offset uint64) []byte {
	t.Helper()
	r, err := c.RetrFrom(name, offset)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("RETR %s: read: %v", name, err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("RETR %s: close: %v", name, err)
	}
	return got
}

// TestFileCommands covers APPE, REST with RETR and STOR, MKD, DELE.
func TestFileCommands(t *testing.T) {
	s := startServer(t, Options{})
	c := login(t, s)
	a, b := randomBytes(t, 1000), randomBytes(t, 777)
	if err := c.Stor("f", bytes.NewReader(a)); err != nil {
		t.Fatal(err)
	}
	if err := c.Append("f", bytes.NewReader(b)); err != nil {
		t.Fatalf("APPE: %v", err)
	}
	ab := slices.Concat(a, b)
	tests := []struct {
		name string
		run  func() ([]byte, error) // returns what the served file should hold
		want []byte
		// transfers is how many transfers the step counts.
		transfers uint64
	}{
		{"APPE", func() ([]byte, error) { return retr(t, c, "f", 0), nil }, ab, 1},
		{"REST+RETR", func() ([]byte, error) { return retr(t, c, "f", 600), nil }, ab[600:], 1},
		{"REST+STOR", func() ([]byte, error) {
			if err := c.StorFrom("f", bytes.NewReader(b), 500); err != nil {
				return nil, err
			}
			return os.ReadFile(filepath.Join(s.Root(), "f"))
		}, slices.Concat(a[:500], b, ab[500+len(b):]), 1},
		{"MKD+STOR in it", func() ([]byte, error) {
			if err := c.MakeDir("sub"); err != nil {
				return nil, err
			}
			if err := c.Stor("sub/g", bytes.NewReader(a)); err != nil {
				return nil, err
			}
			return os.ReadFile(filepath.Join(s.Root(), "sub", "g"))
		}, a, 1},
		{"DELE", func() ([]byte, error) {
			if err := c.Delete("sub/g"); err != nil {
				return nil, err
			}
			_, err := os.Stat(filepath.Join(s.Root(), "sub", "g"))
			if !errors.Is(err, os.ErrNotExist) {
				return nil, errors.New("file still there after DELE")
			}
			return nil, nil
		}, nil, 0},
		{"RETR missing", func() ([]byte, error) {
			_, err := c.Retr("nope")
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code != 550 {
				return nil, errors.New("RETR of a missing file: not a 550")
			}
			return nil, nil
		}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Transfers()
			got, err := tc.run()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got %d bytes, want %d (content differs)", len(got), len(tc.want))
			}
			if n := s.Transfers() - before; n != tc.transfers {
				t.Errorf("counted %d transfers, want %d", n, tc.transfers)
			}
		})
	}
}

// TestLogin refuses every login but the configured one.
func TestLogin(t *testing.T) {
	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{"right", "u1", "p1", true},
		{"wrong password", "u1", "p2", false},
		{"wrong user", "u2", "p1", false},
		{"empty password", "u1", "", false},
		{"anonymous", "anonymous", "guest@example.com", false},
		{"ftp", "ftp", "", false},
	}
	s := startServer(t, Options{User: "u1", Password: "p1"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ftp.Dial(s.Addr().String(), ftp.DialWithTimeout(ioTimeout))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Quit() //nolint:errcheck
			err = c.Login(tc.user, tc.pass)
			if tc.ok {
				if err != nil {
					t.Fatalf("Login: %v", err)
				}
				if _, err := c.List("/"); err != nil {
					t.Errorf("List after login: %v", err)
				}
				return
			}
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code != 530 {
				t.Fatalf("Login = %v, want a 530", err)
			}
		})
	}
}
