package ftpload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Idle holds logged-in control sessions that send nothing.
type Idle struct {
	target  Target
	workers int
	timeout time.Duration
	conns   []*Conn
}

// NewIdle returns an empty set of idle sessions to target; Grow opens
// them with up to workers logins in flight (default 50), each bounded by
// timeout (default 10s).
func NewIdle(target Target, workers int, timeout time.Duration) *Idle {
	if workers <= 0 {
		workers = 50
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Idle{target: target, workers: workers, timeout: timeout}
}

// Len returns the number of sessions held.
func (s *Idle) Len() int { return len(s.conns) }

// Grow opens sessions until n are held. It stops at the first failure and
// returns it; the sessions opened so far are kept.
func (s *Idle) Grow(ctx context.Context, n int) error {
	need := n - len(s.conns)
	if need <= 0 {
		return nil
	}
	jobs := make(chan struct{}, need)
	for range need {
		jobs <- struct{}{}
	}
	close(jobs)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for range min(s.workers, need) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				cctx, cancel := context.WithTimeout(ctx, s.timeout)
				c, err := Dial(cctx, s.target)
				cancel()
				mu.Lock()
				if err != nil {
					if len(errs) == 0 {
						errs = append(errs, err)
					}
				} else {
					s.conns = append(s.conns, c)
				}
				failed := len(errs) > 0
				mu.Unlock()
				if failed {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("idle: %d of %d sessions open: %w", len(s.conns), n, errors.Join(errs...))
	}
	return nil
}

// Check sends NOOP on every held session and returns how many did not
// answer 200: it proves the sessions are still alive end to end.
func (s *Idle) Check() int {
	bad := 0
	for _, c := range s.conns {
		_ = c.c.SetDeadline(time.Now().Add(s.timeout))
		if code, _, err := c.Cmd("NOOP"); err != nil || code != 200 {
			bad++
		}
		_ = c.c.SetDeadline(time.Time{})
	}
	return bad
}

// Close closes every session without QUIT.
func (s *Idle) Close() {
	for _, c := range s.conns {
		c.Abort()
	}
	s.conns = nil
}
