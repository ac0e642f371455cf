package limits

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLocalKind sorts dial errors into algd's own and the realserver's.
func TestLocalKind(t *testing.T) {
	op := func(err error) error {
		return fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)})
	}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{op(syscall.EMFILE), LocalFiles},
		{op(syscall.ENFILE), LocalFiles},
		{op(syscall.ENOBUFS), LocalMemory},
		{op(syscall.ENOMEM), LocalMemory},
		{op(syscall.EADDRNOTAVAIL), LocalAddr},
		{op(syscall.ECONNREFUSED), ""},
		{op(syscall.ECONNRESET), ""},
		{op(syscall.ETIMEDOUT), ""},
		{context.DeadlineExceeded, ""},
		{errors.New("greeting: EOF"), ""},
		{nil, ""},
	} {
		if got := LocalKind(tt.err); got != tt.want {
			t.Errorf("LocalKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestLocalErrorsRateLimit: every local error is counted, but one kind is
// logged at most once per interval, with the number left unlogged; errors
// that are not local are neither counted nor logged.
func TestLocalErrorsRateLimit(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &LocalErrors{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Interval: 10 * time.Second,
		Now: func() time.Time { return now }}
	emfile := fmt.Errorf("accept: %w", syscall.EMFILE)
	for range 5 {
		if !l.Record("accept", emfile) {
			t.Fatal("EMFILE not recorded as local")
		}
		now = now.Add(time.Second)
	}
	if l.Record("connect", syscall.ECONNREFUSED) {
		t.Error("ECONNREFUSED recorded as local")
	}
	l.Record("connect", syscall.EADDRNOTAVAIL)
	now = now.Add(10 * time.Second)
	l.Record("accept", emfile)
	if got := l.Counts(); got[LocalFiles] != 6 || got[LocalAddr] != 1 || len(got) != 2 {
		t.Errorf("counts %v, want files 6, source_address 1", got)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3 (files, source_address, files again):\n%s", len(lines), logs.String())
	}
	if !strings.Contains(lines[2], "unlogged_since_last=4") || !strings.Contains(lines[0], "level=ERROR") {
		t.Errorf("log lines:\n%s\nwant ERROR and unlogged_since_last=4 on the third", logs.String())
	}
	if last := l.Last(); last.Kind != LocalFiles || last.Op != "accept" || !last.At.Equal(now) {
		t.Errorf("Last() = %+v", last)
	}
	var nilL *LocalErrors
	if !nilL.Record("x", emfile) || nilL.Counts() != nil || !nilL.Last().At.IsZero() {
		t.Error("a nil LocalErrors does not tell local errors apart")
	}
}
