package pool

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/algd/algd/conf"
)

// notifier runs one realserver's notify_up and notify_down commands
// (keepalived's notify): one at a time, never holding up the checks. A
// change that comes while a command runs waits, and only the latest
// waiting state is run next, so the last command run always tells the
// current state.
type notifier struct {
	up, down []string // argv; nil runs nothing
	timeout  time.Duration

	mu      sync.Mutex
	running bool
	pending bool // a state waits for the running command to end
	next    bool // that state: true is up
}

// newNotifier takes rc's commands, or the pool's where rc has none.
func newNotifier(c conf.Pool, rc conf.Realserver) *notifier {
	n := &notifier{up: c.NotifyUp, down: c.NotifyDown, timeout: c.NotifyTimeout.Duration}
	if rc.NotifyUp != nil {
		n.up = rc.NotifyUp
	}
	if rc.NotifyDown != nil {
		n.down = rc.NotifyDown
	}
	if n.timeout <= 0 {
		n.timeout = 10 * time.Second
	}
	return n
}

// notify runs r's command for its new state in a goroutine of its own,
// or leaves the state for the running one to pick up.
func (p *Pool) notify(r *Realserver, up bool) {
	n := r.notify
	if n == nil || (n.up == nil && n.down == nil) {
		return
	}
	n.mu.Lock()
	if n.running {
		n.pending, n.next = true, up
		n.mu.Unlock()
		return
	}
	n.running = true
	n.mu.Unlock()
	go func() {
		for {
			p.runNotify(r, up)
			n.mu.Lock()
			if !n.pending {
				n.running = false
				n.mu.Unlock()
				return
			}
			up, n.pending = n.next, false
			n.mu.Unlock()
		}
	}()
}

// runNotify runs the command for state up of r and logs the outcome.
func (p *Pool) runNotify(r *Realserver, up bool) {
	n := r.notify
	argv, state := n.down, "down"
	if up {
		argv, state = n.up, "up"
	}
	if argv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	argv = append(slices.Clone(argv), p.name, r.addr.String(), state)
	env := append(Env(p.name, r.addr), "ALGD_STATE="+state)
	start := time.Now()
	err := runCommand(ctx, argv, env)
	log := p.logger().With("realserver", r.addr.String(), "state", state,
		"command", argv[0], "duration", math.Round(time.Since(start).Seconds()*1000)/1000) // seconds, as alg.Seconds
	if err != nil {
		log.Warn("notify command failed", "err", err)
		return
	}
	log.Info("notify command ran")
}
