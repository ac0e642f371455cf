package ftpload

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/internal/demo"
)

// startServer runs an ftpserverlib server on a loopback address with the
// given files in its root.
func startServer(t *testing.T, files map[string][]byte) Target {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := demo.StartTest(t, demo.Options{Addr: "127.0.0.41:0", Root: root, PassiveFirst: 64400, PassiveLast: 64499})
	return Target{Addr: s.Addr().String(), User: demo.DefaultUser, Password: demo.DefaultPassword}
}

func TestPASVPort(t *testing.T) {
	tests := []struct {
		text    string
		want    uint16
		wantErr bool
	}{
		{"Entering Passive Mode (127,0,0,1,242,1).", 61953, false},
		{"Entering Passive Mode (127,0,0,1,242,1)", 61953, false},
		{"Passive mode on 10,0,0,1,4,1", 1025, false},
		{"=127,0,0,1,0,21", 21, false},
		{"(127,0,0,1,256,1)", 0, true},
		{"(127,0,0,1,0,0)", 0, true},
		{"(1,2,3,4,5)", 0, true},
		{"no numbers", 0, true},
		{"(127,0,0,1,99999999999999999999999,1)", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := PASVPort(tt.text)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("PASVPort = %d, %v; want %d, err %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestDialLogin(t *testing.T) {
	tg := startServer(t, nil)
	tests := []struct {
		name    string
		user    string
		pass    string
		wantErr bool
	}{
		{"good", tg.User, tg.Password, false},
		{"bad password", tg.User, "wrong", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, Target{Addr: tg.Addr, User: tt.user, Password: tt.pass})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Dial err = %v, wantErr %v", err, tt.wantErr)
			}
			if c != nil {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
		})
	}
}

func TestShort(t *testing.T) {
	tg := startServer(t, map[string][]byte{"1k": make([]byte, 1024)})
	tests := []struct {
		name       string
		path       string
		wantOK     bool
		wantErrSub string
	}{
		{"existing file", "1k", true, ""},
		{"missing file", "nope", false, "RETR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Short(context.Background(), ShortOptions{Target: tg, Path: tt.path, Workers: 4, Duration: 300 * time.Millisecond})
			if tt.wantOK {
				if r.Sessions == 0 || r.Failed != 0 || r.Bytes != int64(r.Sessions)*1024 || r.PerSecond <= 0 {
					t.Errorf("result %+v: want sessions, no failure, 1 KiB each", r)
				}
			} else if r.Sessions != 0 || r.Failed == 0 || !strings.Contains(r.FirstError, tt.wantErrSub) {
				t.Errorf("result %+v: want failures mentioning %q", r, tt.wantErrSub)
			}
		})
	}
}

func TestTransfers(t *testing.T) {
	data := make([]byte, 256<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	other := sha256.Sum256([]byte("other"))
	tg := startServer(t, map[string][]byte{"f": data})
	tests := []struct {
		name                 string
		digest               string
		ok, failed, corrupts int
	}{
		{"right digest", good, 20, 0, 0},
		{"wrong digest", hex.EncodeToString(other[:]), 0, 0, 20},
		{"malformed digest", "xyz", 0, 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Transfers(context.Background(), TransferOptions{Target: tg, Path: "f", SHA256: tt.digest, Sessions: 20, Timeout: 20 * time.Second})
			if r.OK != tt.ok || r.Failed != tt.failed || r.Corrupt != tt.corrupts {
				t.Errorf("result %+v: want ok %d failed %d corrupt %d", r, tt.ok, tt.failed, tt.corrupts)
			}
		})
	}
}

func TestIdle(t *testing.T) {
	tg := startServer(t, nil)
	tests := []struct {
		name    string
		target  Target
		steps   []int
		wantErr bool
	}{
		{"grows in steps", tg, []int{5, 30, 30}, false},
		{"refused login", Target{Addr: tg.Addr, User: "x", Password: "y"}, []int{3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewIdle(tt.target, 8, 5*time.Second)
			defer s.Close()
			for _, n := range tt.steps {
				err := s.Grow(context.Background(), n)
				if (err != nil) != tt.wantErr {
					t.Fatalf("Grow(%d) err = %v, wantErr %v", n, err, tt.wantErr)
				}
				if err == nil && s.Len() != n {
					t.Fatalf("Len = %d after Grow(%d)", s.Len(), n)
				}
			}
			if bad := s.Check(); bad != 0 {
				t.Errorf("Check: %d sessions did not answer NOOP", bad)
			}
		})
	}
}

// TestLogins counts every login of a burst, going on past failures.
func TestLogins(t *testing.T) {
	tg := startServer(t, nil)
	r := Logins(context.Background(), LoginOptions{Target: tg, Sessions: 40, Workers: 8, Timeout: 5 * time.Second})
	if r.OK != 40 || r.Failed != 0 || r.Dead != 0 || r.FirstError != "" || r.PerSecond <= 0 || r.SlowestSeconds <= 0 {
		t.Errorf("good logins: %+v", r)
	}
	bad := Logins(context.Background(), LoginOptions{Target: Target{Addr: tg.Addr, User: "x", Password: "y"}, Sessions: 6, Workers: 2})
	if bad.OK != 0 || bad.Failed != 6 || !strings.Contains(bad.FirstError, "login") {
		t.Errorf("refused logins: %+v, want 6 failed, all counted", bad)
	}
}
