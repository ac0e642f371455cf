package rtsp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/algd/algd/alg"
)

// TestDrainWaitsForAnswer: a drain leaves a control connection alone
// while a request waits for the realserver's answer, passes the answer
// on, and then closes the connection.
func TestDrainWaitsForAnswer(t *testing.T) {
	gate := make(chan struct{})
	f := startFakeServer(t, &fakeServer{gate: gate})
	reg := alg.NewRegistry()
	_, addr := testHandler(t, f.addr, func(h *Handler) { h.Name, h.Registry = "cams", reg })
	rc := dialClient(t, addr)
	fmt.Fprintf(rc.c, "DESCRIBE rtsp://%s/live RTSP/1.0\r\nCSeq: 1\r\n\r\n", addr)
	for end := time.Now().Add(5 * time.Second); f.last("DESCRIBE") == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the realserver got no DESCRIBE")
		}
	}
	l := reg.Sessions()
	if len(l) != 1 || l[0].ID != "cams-1" || l[0].Proto != "rtsp" || l[0].Realserver != f.addr || l[0].Transferring || l[0].Mode != "" {
		t.Fatalf("sessions %+v, want cams-1 to the realserver, nothing set up", l)
	}

	reg.Drain()
	// Several drain polls (every 100 ms) pass: the connection stays.
	rc.c.SetReadDeadline(time.Now().Add(350 * time.Millisecond))
	var ne net.Error
	if _, _, err := rc.r.Read(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read while the answer was pending: %v, want a timeout", err)
	}
	if reg.Len() != 1 {
		t.Fatalf("%d sessions while the answer was pending", reg.Len())
	}
	close(gate)
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, _, err := rc.r.Read()
	if err != nil || m == nil || m.Status != 200 {
		t.Fatalf("answer after the gate: %v, %v", m, err)
	}
	if _, _, err := rc.r.Read(); !errors.Is(err, io.EOF) {
		t.Errorf("after the answer: %v, want the drain to close the connection", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := reg.Wait(ctx); err != nil {
		t.Errorf("Wait: %v", err)
	}
}
