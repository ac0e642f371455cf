package ftpload

import (
	"context"
	"sync"
	"time"
)

// LoginOptions describe a burst of logins that are then held idle.
type LoginOptions struct {
	// Target is the service and login.
	Target Target
	// Sessions is the number of logins. Default 2000.
	Sessions int
	// Workers is the number of logins in flight. Default 50.
	Workers int
	// Timeout bounds one login (connect, banner, USER, PASS). Default 20s.
	Timeout time.Duration
}

// LoginResult is the outcome of a login burst.
type LoginResult struct {
	// OK sessions logged in, Failed did not; Dead of the OK ones did not
	// answer NOOP with 200 once all were in.
	OK, Failed, Dead int
	// Seconds is the wall time of the burst, PerSecond OK / Seconds.
	Seconds, PerSecond float64
	// SlowestSeconds is the longest login that succeeded.
	SlowestSeconds float64
	// FirstError is the first failure's text, "" when none failed.
	FirstError string
}

// Logins logs o.Sessions sessions in, o.Workers at a time, going on past
// failures (each is counted), then sends NOOP on every session held and
// closes them all.
func Logins(ctx context.Context, o LoginOptions) LoginResult {
	if o.Sessions <= 0 {
		o.Sessions = 2000
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	held := NewIdle(o.Target, o.Workers, o.Timeout)
	defer held.Close()
	jobs := make(chan struct{}, o.Sessions)
	for range o.Sessions {
		jobs <- struct{}{}
	}
	close(jobs)
	var (
		mu  sync.Mutex
		res LoginResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	for range min(held.workers, o.Sessions) {
		wg.Go(func() {
			for range jobs {
				t0 := time.Now()
				cctx, cancel := context.WithTimeout(ctx, held.timeout)
				c, err := Dial(cctx, o.Target)
				cancel()
				took := time.Since(t0).Seconds()
				mu.Lock()
				if err != nil {
					res.Failed++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					res.OK++
					res.SlowestSeconds = max(res.SlowestSeconds, took)
					held.conns = append(held.conns, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.PerSecond = float64(res.OK) / res.Seconds
	}
	res.Dead = held.Check()
	return res
}
