package ftpload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// TransferOptions describe a burst of concurrent downloads.
type TransferOptions struct {
	// Target is the service and login.
	Target Target
	// Path is the file every session downloads.
	Path string
	// SHA256 is the hex digest every copy must have.
	SHA256 string
	// Sessions is the number of concurrent transfers. Default 500.
	Sessions int
	// Logins bounds the logins in flight while the sessions are opened
	// (ftpds drop connections beyond their listen backlog). Default 50.
	Logins int
	// Timeout bounds each session. Default 120s.
	Timeout time.Duration
}

// TransferResult is the outcome of a burst.
type TransferResult struct {
	// OK counts copies with the right digest; Failed counts sessions that
	// failed; Corrupt counts complete copies with another digest.
	OK, Failed, Corrupt int
	// Bytes is the sum of the bytes received.
	Bytes int64
	// Seconds is the wall time of the transfers: from the moment every
	// session is logged in and all start their PASV and RETR together to
	// the end of the last one.
	Seconds float64
	// MiBps is Bytes / Seconds in MiB/s.
	MiBps float64
	// FirstError is the first failure's text, "" when none failed.
	FirstError string
}

// Transfers opens o.Sessions logged-in sessions (o.Logins at a time),
// then starts a download of o.Path on all of them at once, hashing each
// copy on the way. Sessions that fail are not retried.
func Transfers(ctx context.Context, o TransferOptions) TransferResult {
	if o.Sessions <= 0 {
		o.Sessions = 500
	}
	if o.Timeout <= 0 {
		o.Timeout = 120 * time.Second
	}
	if o.Logins <= 0 {
		o.Logins = 50
	}
	want, err := hex.DecodeString(o.SHA256)
	if err != nil || len(want) != sha256.Size {
		return TransferResult{Failed: o.Sessions, FirstError: fmt.Sprintf("bad digest %q", o.SHA256)}
	}
	var (
		mu  sync.Mutex
		res TransferResult
		wg  sync.WaitGroup
	)
	fail := func(err error) {
		if res.FirstError == "" {
			res.FirstError = err.Error()
		}
	}
	logins := make(chan struct{}, o.Logins)
	var ready sync.WaitGroup
	ready.Add(o.Sessions)
	begin := make(chan struct{})
	for range o.Sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, n, err := download(ctx, o, logins, &ready, begin)
			mu.Lock()
			defer mu.Unlock()
			res.Bytes += n
			switch {
			case err != nil:
				res.Failed++
				fail(err)
			case !bytes.Equal(sum, want):
				res.Corrupt++
				fail(fmt.Errorf("digest %x after %d bytes", sum, n))
			default:
				res.OK++
			}
		}()
	}
	ready.Wait()
	start := time.Now()
	close(begin)
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.MiBps = float64(res.Bytes) / (1 << 20) / res.Seconds
	}
	return res
}

// download logs in (holding a slot of logins meanwhile), reports ready,
// waits for begin and downloads.
func download(ctx context.Context, o TransferOptions, logins chan struct{}, ready *sync.WaitGroup, begin <-chan struct{}) ([]byte, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	logins <- struct{}{}
	c, err := Dial(ctx, o.Target)
	<-logins
	ready.Done()
	if err != nil {
		return nil, 0, err
	}
	<-begin
	h := sha256.New()
	n, err := c.Retr(ctx, o.Path, h)
	if err != nil {
		c.Abort()
		return nil, n, err
	}
	return h.Sum(nil), n, c.Close()
}
