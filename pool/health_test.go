package pool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/conf"
)

// scripted is a Checker whose results the test hands over one by one. Each
// Check announces itself on started, then waits for its result, so the
// test knows that the previous result has been applied when the next
// check starts.
type scripted struct {
	started map[netip.AddrPort]chan struct{}
	results map[netip.AddrPort]chan error
}

func newScripted(addrs ...netip.AddrPort) *scripted {
	s := &scripted{
		started: map[netip.AddrPort]chan struct{}{},
		results: map[netip.AddrPort]chan error{},
	}
	for _, a := range addrs {
		s.started[a] = make(chan struct{})
		s.results[a] = make(chan error)
	}
	return s
}

func (s *scripted) Check(ctx context.Context, addr netip.AddrPort) error {
	select {
	case s.started[addr] <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-s.results[addr]:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// step hands one result to addr's next check and waits until the check
// after it has started, so the result has been applied.
func (s *scripted) step(addr netip.AddrPort, err error) {
	s.results[addr] <- err
	<-s.started[addr]
}

// syncBuffer is a bytes.Buffer safe for a logger and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// records returns the JSON log records written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// healthPool is a one-realserver pool checked by a scripted checker every
// millisecond, with a timeout no test step can hit.
func healthPool(rise, fall int) (*Pool, *scripted, *syncBuffer) {
	c := testConf("rr", []int{1}, 0)
	c.Health = conf.Health{
		Kind:     "tcp",
		Interval: conf.Duration{Duration: time.Millisecond},
		Timeout:  conf.Duration{Duration: time.Hour},
		Rise:     rise,
		Fall:     fall,
	}
	s := newScripted(c.Realservers[0].AddrPort)
	p := New(c, s)
	logs := &syncBuffer{}
	p.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return p, s, logs
}

// runPool starts p.Run and returns a stop function that waits for it.
func runPool(p *Pool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Run(ctx)
		close(done)
	}()
	return func() {
		cancel()
		<-done
	}
}

func TestHealthRiseFall(t *testing.T) {
	errDown := errors.New("scripted failure")
	tests := []struct {
		name       string
		rise, fall int
		results    []bool // check outcomes in order
		wantUp     []bool // Up after each
	}{
		{"first failure takes it down at once", 2, 3,
			[]bool{false}, []bool{false}},
		{"first success keeps it up", 2, 3,
			[]bool{true}, []bool{true}},
		{"fall consecutive failures", 2, 3,
			[]bool{true, false, false, false}, []bool{true, true, true, false}},
		{"rise consecutive successes", 2, 3,
			[]bool{false, true, true}, []bool{false, false, true}},
		{"a success resets the failures", 2, 3,
			[]bool{true, false, false, true, false, false, false},
			[]bool{true, true, true, true, true, true, false}},
		{"a failure resets the successes", 3, 1,
			[]bool{false, true, true, false, true, true, true},
			[]bool{false, false, false, false, false, false, true}},
		{"flap", 1, 1,
			[]bool{true, false, true, false},
			[]bool{true, false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, s, _ := healthPool(tt.rise, tt.fall)
			r := p.Realservers()[0]
			addr := r.Addr()
			stop := runPool(p)
			defer stop()
			<-s.started[addr]
			var got []bool
			for _, ok := range tt.results {
				var err error
				if !ok {
					err = errDown
				}
				s.step(addr, err)
				got = append(got, r.Up())
				if lerr, _, at := r.LastCheck(); !errors.Is(lerr, err) || at.IsZero() {
					t.Fatalf("LastCheck = %v at %v, want %v", lerr, at, err)
				}
			}
			if !slices.Equal(got, tt.wantUp) {
				t.Errorf("Up after each check %v, want %v", got, tt.wantUp)
			}
			// The pool follows: a down realserver gets no sessions.
			_, err := p.Pick(client)
			if up := got[len(got)-1]; up != (err == nil) {
				t.Errorf("Up %v but Pick error %v", up, err)
			}
		})
	}
}

func TestHealthLogs(t *testing.T) {
	p, s, logs := healthPool(1, 1)
	addr := p.Realservers()[0].Addr()
	stop := runPool(p)
	<-s.started[addr]
	s.step(addr, errors.New("connection refused"))
	s.step(addr, nil)
	stop()

	want := []struct{ level, msg, err string }{
		{"WARN", "realserver down", "connection refused"},
		{"INFO", "realserver up", ""},
	}
	recs := logs.records(t)
	if len(recs) != len(want) {
		t.Fatalf("%d log records, want %d: %v", len(recs), len(want), recs)
	}
	for i, w := range want {
		rec := recs[i]
		if rec["level"] != w.level || rec["msg"] != w.msg {
			t.Errorf("record %d: %v %v, want %v %v", i, rec["level"], rec["msg"], w.level, w.msg)
		}
		if rec["pool"] != "test" || rec["realserver"] != addr.String() {
			t.Errorf("record %d: pool %v realserver %v", i, rec["pool"], rec["realserver"])
		}
		if w.err != "" && rec["err"] != w.err {
			t.Errorf("record %d: err %v, want %q", i, rec["err"], w.err)
		}
	}
}

func TestMarkFailed(t *testing.T) {
	tests := []struct {
		name    string
		fall    int
		marks   int
		wantUp  bool
		checked bool // a check succeeded before the marks
	}{
		{"below fall", 3, 2, true, false},
		{"reaches fall", 3, 3, false, false},
		{"after a successful check", 2, 2, false, true},
		{"nil error still counts", 1, 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, _ := healthPool(2, tt.fall)
			r := p.Realservers()[0]
			if tt.checked {
				r.recordCheck(nil, 0, time.Now(), 2, tt.fall)
			}
			for range tt.marks {
				var err error
				if tt.name != "nil error still counts" {
					err = errors.New("connect: refused")
				}
				p.MarkFailed(r, err)
			}
			if r.Up() != tt.wantUp {
				t.Errorf("Up = %v, want %v", r.Up(), tt.wantUp)
			}
			_, err := p.Pick(client)
			if tt.wantUp != (err == nil) {
				t.Errorf("Up %v but Pick error %v", tt.wantUp, err)
			}
		})
	}
}

func TestTCPChecker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().(*net.TCPAddr).AddrPort()
	closed.Close()

	tests := []struct {
		name    string
		addr    netip.AddrPort
		healthy bool
	}{
		{"listening", ln.Addr().(*net.TCPAddr).AddrPort(), true},
		{"closed port", closedAddr, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := (&TCPChecker{}).Check(ctx, tt.addr)
			if (err == nil) != tt.healthy {
				t.Errorf("Check(%v) = %v, want healthy %v", tt.addr, err, tt.healthy)
			}
		})
	}
}

// TestRunTCP checks a real listener and a closed port through Run: the
// first check decides, so the closed port goes down and the listener stays
// up.
func TestRunTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()

	c := testConf("rr", []int{1, 1}, 0)
	c.Health = conf.Health{Kind: "tcp", Interval: conf.Duration{Duration: 10 * time.Millisecond},
		Timeout: conf.Duration{Duration: 5 * time.Second}, Rise: 2, Fall: 3}
	c.Realservers[0].AddrPort = ln.Addr().(*net.TCPAddr).AddrPort()
	c.Realservers[1].AddrPort = closed.Addr().(*net.TCPAddr).AddrPort()
	p := New(c, nil)
	p.Logger = slog.New(slog.DiscardHandler)
	stop := runPool(p)
	defer stop()

	rs := p.Realservers()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, at0 := rs[0].LastCheck()
		_, _, at1 := rs[1].LastCheck()
		if !at0.IsZero() && !at1.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checks ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !rs[0].Up() {
		err, _, _ := rs[0].LastCheck()
		t.Errorf("listening realserver down: %v", err)
	}
	if rs[1].Up() {
		t.Error("closed port up after its first check")
	}
	if err, _, _ := rs[1].LastCheck(); err == nil {
		t.Error("closed port check has no error")
	}
}
