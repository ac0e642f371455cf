package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/logbuf"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/tests/fakeftpd"
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

// records returns the JSON log records written so far.
func records(t *testing.T, b *logbuf.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range b.Lines() {
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
func healthPool(rise, fall int) (*Pool, *scripted, *logbuf.Buffer) {
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
	logs := &logbuf.Buffer{}
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
	recs := records(t, logs)
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

// TestMarkFailed: failures seen by sessions never take a realserver down,
// however many; they make it suspect until a session or a check succeeds,
// and Pick still gives it when nothing else qualifies. Down and up stay
// the health checks' verdict.
func TestMarkFailed(t *testing.T) {
	tests := []struct {
		name  string
		fall  int
		marks int
		clear string // "", "ok" (MarkOK) or "check" (a passing check)
	}{
		{"below fall", 3, 2, ""},
		{"reaches fall", 3, 3, ""},
		{"far beyond fall", 1, 50, ""},
		{"a session succeeds", 2, 5, "ok"},
		{"a check passes", 2, 5, "check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, logs := healthPool(2, tt.fall)
			r := p.Realservers()[0]
			for n := range tt.marks {
				var err error // nil counts like an error
				if n%2 == 0 {
					err = errors.New("greeting: i/o timeout")
				}
				p.MarkFailed(r, err)
			}
			if !r.Up() {
				t.Fatalf("Up = false after %d session failures with fall %d", tt.marks, tt.fall)
			}
			if got := r.SessionFailures(); got != uint64(tt.marks) {
				t.Errorf("SessionFailures = %d, want %d", got, tt.marks)
			}
			if !r.Suspect() {
				t.Errorf("not Suspect after %d session failures", tt.marks)
			}
			l, err := p.Pick(client)
			if err != nil {
				t.Fatalf("Pick of the only, suspect member: %v", err)
			}
			if l.Realserver() != r {
				t.Errorf("Pick gave %v, want %v", l.Realserver().Addr(), r.Addr())
			}
			l.Release()
			switch tt.clear {
			case "ok":
				p.MarkOK(r)
			case "check":
				r.recordCheck(nil, 0, time.Now(), 2, tt.fall)
			}
			if want := tt.clear == ""; r.Suspect() != want {
				t.Errorf("Suspect = %v after %q, want %v", r.Suspect(), tt.clear, want)
			}
			for _, rec := range records(t, logs) {
				if rec["msg"] == "realserver down" {
					t.Errorf("a session failure was logged as a realserver down: %v", rec)
				}
			}
		})
	}
}

// TestSuspectAvoided: Pick passes over a suspect member while another
// qualifies, takes suspect ones when every member is suspect, and refuses
// only when health checks took every member down.
func TestSuspectAvoided(t *testing.T) {
	for _, sched := range []string{"rr", "wrr", "lc", "wlc", "sh"} {
		t.Run(sched, func(t *testing.T) {
			p := testPool(sched, []int{1, 1, 1}, 0)
			rs := p.Realservers()
			p.MarkFailed(rs[0], errors.New("connect: connection refused"))
			p.MarkFailed(rs[2], errors.New("greeting: i/o timeout"))
			for n := range 20 {
				c := netip.AddrFrom4([4]byte{10, 0, 0, byte(n)})
				l, err := p.Pick(c)
				if err != nil {
					t.Fatal(err)
				}
				if l.Realserver() != rs[1] {
					t.Errorf("client %v: Pick gave suspect %v", c, l.Realserver().Addr())
				}
				l.Release()
			}
			p.MarkFailed(rs[1], errors.New("greeting: i/o timeout"))
			seen := map[*Realserver]bool{}
			for n := range 30 { // held, so that lc and wlc spread too
				l, err := p.Pick(netip.AddrFrom4([4]byte{10, 0, 1, byte(n)}))
				if err != nil {
					t.Fatalf("every member suspect but up: Pick: %v", err)
				}
				seen[l.Realserver()] = true
				defer l.Release()
			}
			if sched != "sh" && len(seen) != 3 {
				t.Errorf("every member suspect: Pick spread over %d members, want 3", len(seen))
			}
			// Excluding the suspects still leaves none: the caller failed
			// over through all of them.
			if _, err := p.Pick(client, rs...); !errors.Is(err, ErrNoRealserver) {
				t.Errorf("Pick excluding every member: %v, want ErrNoRealserver", err)
			}
			for i := range rs {
				setDown(t, p, i)
			}
			if _, err := p.Pick(client); !errors.Is(err, ErrNoRealserver) {
				t.Errorf("Pick with every member down by checks: %v, want ErrNoRealserver", err)
			}
		})
	}
}

// openAndClosed returns a port that accepts (and closes) connections
// until the test ends, and one nothing listens on.
func openAndClosed(t *testing.T) (open, closed netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fakeftpd.ServeFunc(t, ln, func(net.Conn) {}) // accepts, then closes
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort(), gone.Addr().(*net.TCPAddr).AddrPort()
}

func TestTCPChecker(t *testing.T) {
	open, closedAddr := openAndClosed(t)

	tests := []struct {
		name    string
		addr    netip.AddrPort
		healthy bool
	}{
		{"listening", open, true},
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
	open, closed := openAndClosed(t)

	c := testConf("rr", []int{1, 1}, 0)
	c.Health = conf.Health{Kind: "tcp", Interval: conf.Duration{Duration: 10 * time.Millisecond},
		Timeout: conf.Duration{Duration: 5 * time.Second}, Rise: 2, Fall: 3}
	c.Realservers[0].AddrPort = open
	c.Realservers[1].AddrPort = closed
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

// emfileChecker fails every check the way a checker does when algd has no
// descriptor left for the socket.
type emfileChecker struct{}

func (emfileChecker) Check(context.Context, netip.AddrPort) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
}

// TestCheckLocalExhaustion: a health check that failed for want of algd's
// own descriptors says nothing about the realserver: it stays up with
// fall 1, and the error is counted as algd's.
func TestCheckLocalExhaustion(t *testing.T) {
	c := testConf("rr", []int{1}, 0)
	c.Health = conf.Health{Kind: "tcp", Rise: 1, Fall: 1}
	p := New(c, emfileChecker{})
	p.Local = &limits.LocalErrors{Logger: slog.New(slog.DiscardHandler)}
	r := p.Realservers()[0]
	for range 3 {
		p.check(context.Background(), r)
	}
	if !r.Up() {
		t.Error("EMFILE in the health checker took the realserver down")
	}
	if err, _, at := r.LastCheck(); err != nil || !at.IsZero() {
		t.Errorf("LastCheck = %v at %v, want no check recorded", err, at)
	}
	if n := p.Local.Counts()[limits.LocalFiles]; n != 3 {
		t.Errorf("local errors counted %d, want 3", n)
	}
}

// stallChecker never answers: every check runs out of its timeout.
type stallChecker struct{}

func (stallChecker) Check(ctx context.Context, _ netip.AddrPort) error {
	<-ctx.Done()
	return fmt.Errorf("greeting: %w", ctx.Err())
}

// TestCheckTimeoutWhileServing: a check that times out does not count
// toward fall while sessions got through to the realserver within the
// last interval (busy, not dead); without such a session it does.
func TestCheckTimeoutWhileServing(t *testing.T) {
	c := testConf("rr", []int{1, 1}, 0)
	c.Health = conf.Health{Kind: "tcp", Interval: conf.Duration{Duration: time.Hour},
		Timeout: conf.Duration{Duration: 5 * time.Millisecond}, Rise: 1, Fall: 1}
	p := New(c, stallChecker{})
	p.Logger = slog.New(slog.DiscardHandler)
	busy, idle := p.Realservers()[0], p.Realservers()[1]
	p.MarkOK(busy)
	p.check(context.Background(), busy)
	p.check(context.Background(), idle)
	if !busy.Up() {
		t.Error("a check timeout took down a realserver that had just greeted a session")
	}
	if idle.Up() {
		t.Error("a check timeout with no session getting through left the realserver up (fall 1)")
	}
	if !p.Others(idle) || p.Others(busy) {
		t.Errorf("Others(idle) = %v, Others(busy) = %v; want true (busy is up), false (idle is down)", p.Others(idle), p.Others(busy))
	}
}
