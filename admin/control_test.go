package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeControl records the changes asked of it.
type fakeControl struct{ calls []string }

func (f *fakeControl) SetWeight(pool string, addr netip.AddrPort, w int) error {
	if pool != "p" {
		return fmt.Errorf("pool %q: %w", pool, ErrNotFound)
	}
	f.calls = append(f.calls, fmt.Sprintf("weight %s %s %d", pool, addr, w))
	return nil
}

func (f *fakeControl) SetDisabled(pool string, addr netip.AddrPort, d bool) error {
	f.calls = append(f.calls, fmt.Sprintf("disabled %s %s %v", pool, addr, d))
	return nil
}

func (f *fakeControl) EndSession(id string) error {
	f.calls = append(f.calls, "end "+id)
	return nil
}

// TestControlEndpoints: each action reaches Control with its arguments
// when the token is right; a missing token file, a missing or wrong
// token, a bad weight, an unknown action or pool change nothing.
func TestControlEndpoints(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc := &fakeControl{}
	srv := &Server{Source: SourceFunc(func() Status { return Status{} }), Control: fc, Auth: Auth{TokenFile: tok}}
	h, err := srv.Handler()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	good := &Client{Addr: addr, Token: "s3cret"}
	for _, tc := range []struct {
		c    *Client
		path string
		want string // "" for success, else a part of the error
	}{
		{good, "/realservers/p/10.0.0.1:21/weight?weight=5", ""},
		{good, "/realservers/p/10.0.0.1:21/drain", ""},
		{good, "/realservers/p/10.0.0.1:21/disable", ""},
		{good, "/realservers/p/10.0.0.1:21/enable", ""},
		{good, "/sessions/vip-7/end", ""},
		{good, "/realservers/p/10.0.0.1:21/weight?weight=x", "400"},
		{good, "/realservers/p/not-an-address/drain", "400"},
		{good, "/realservers/p/10.0.0.1:21/explode", "404"},
		{good, "/realservers/q/10.0.0.1:21/drain", "404"},
		{&Client{Addr: addr}, "/realservers/p/10.0.0.1:21/drain", "401"},
		{&Client{Addr: addr, Token: "s3cre"}, "/realservers/p/10.0.0.1:21/drain", "403"},
	} {
		err := tc.c.Post(ctx, tc.path, nil)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("POST %s (token %q): %v, want %q", tc.path, tc.c.Token, err, tc.want)
		}
	}
	want := []string{"weight p 10.0.0.1:21 5", "weight p 10.0.0.1:21 0", "disabled p 10.0.0.1:21 true",
		"disabled p 10.0.0.1:21 false", "end vip-7"}
	if fmt.Sprint(fc.calls) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", fc.calls, want)
	}
	// The token file gone: refused, not open.
	os.Remove(tok)
	if err := good.Post(ctx, "/sessions/vip-8/end", nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("with the token file gone: %v, want 403", err)
	}
	// GET on a state-changing path is not a change.
	resp, err := http.Get(ts.URL + "/sessions/vip-9/end")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || len(fc.calls) != len(want) {
		t.Errorf("GET of an end endpoint: %s, calls %q", resp.Status, fc.calls)
	}
}
