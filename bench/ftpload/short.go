package ftpload

import (
	"context"
	"io"
	"sync"
	"time"
)

// ShortOptions describe a short-session load.
type ShortOptions struct {
	// Target is the service and login.
	Target Target
	// Path is the (small) file each session downloads.
	Path string
	// Workers is the number of concurrent clients. Default 50.
	Workers int
	// Duration is how long new sessions are started. Default 10s.
	Duration time.Duration
	// SessionTimeout bounds one session. Default 10s.
	SessionTimeout time.Duration
}

// ShortResult is the outcome of a short-session load.
type ShortResult struct {
	// Sessions is the number of complete sessions, Failed the others.
	Sessions, Failed int
	// Bytes is the sum of the downloaded bytes.
	Bytes int64
	// Seconds is the wall time from the first start to the last end.
	Seconds float64
	// PerSecond is Sessions / Seconds.
	PerSecond float64
	// FirstError is the first failure's text, "" when none failed.
	FirstError string
}

// Short runs o.Workers clients, each doing one short session after the
// other (connect, banner, login, PASV, RETR o.Path, QUIT) until
// o.Duration has passed, and returns the count of complete sessions per
// second of wall time.
func Short(ctx context.Context, o ShortOptions) ShortResult {
	if o.Workers <= 0 {
		o.Workers = 50
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 10 * time.Second
	}
	var (
		mu  sync.Mutex
		res ShortResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(o.Duration)
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && ctx.Err() == nil {
				n, err := shortSession(ctx, o)
				mu.Lock()
				if err != nil {
					res.Failed++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					res.Sessions++
					res.Bytes += n
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.PerSecond = float64(res.Sessions) / res.Seconds
	}
	return res
}

func shortSession(ctx context.Context, o ShortOptions) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, o.SessionTimeout)
	defer cancel()
	c, err := Dial(ctx, o.Target)
	if err != nil {
		return 0, err
	}
	n, err := c.Retr(ctx, o.Path, io.Discard)
	if err != nil {
		c.Abort()
		return n, err
	}
	return n, c.Close()
}
