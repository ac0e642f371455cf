//go:build interop

package netns

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawResult is what testdata/rtspraw.py printed, and how it ended.
type rawResult struct {
	out string
	err error
}

// rawPlayer runs testdata/rtspraw.py with args in the client namespace,
// in the background.
func rawPlayer(t *testing.T, tp *topology, args ...string) <-chan rawResult {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "rtspraw.py"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan rawResult, 1)
	go func() {
		argv := append(append(nsWrap(tp.client), "timeout", "60", "python3", script), args...)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		done <- rawResult{string(out), err}
	}()
	return done
}

// TestRTSPKernelServerFirst: a player that never sends a datagram
// (testdata/rtspraw.py mute: no punch packet, no receiver report), so the
// realserver's RTP is the first packet of the stream and its mapping
// (realserver to the backend port, to the client from the VIP port)
// creates the conntrack entry. Its packets must arrive through the
// kernel: conntrack shows the entry in that direction, and the
// director's sockets get less than a tenth as many datagrams as the
// player got.
func TestRTSPKernelServerFirst(t *testing.T) {
	if algdBin == "" {
		t.Fatal("TestRTSPKernelServerFirst needs algd: unset ALGD_INTEROP_DIRECT")
	}
	tp := rtspTopology(t)
	src := buildSource(t)
	rs := startSource(t, tp, src, realserver)
	ctrl := startKernelListener(t, tp, rs, 63400, 63449, 63500, 63549)
	const secs = 3
	before := udpIn(t, tp.director)
	done := rawPlayer(t, tp, "mute", fmt.Sprintf("rtsp://%s/stream", ctrl), "40000", fmt.Sprint(secs))
	time.Sleep(secs * time.Second / 2)
	ct := sh(t, append(nsWrap(tp.director), "cat", "/proc/net/nf_conntrack")...)
	r := <-done
	in := udpIn(t, tp.director) - before
	if r.err != nil {
		t.Fatalf("rtspraw: %v\n%s", r.err, r.out)
	}
	var got, other int64
	if _, err := fmt.Sscanf(lastLine(r.out, "got "), "got %d other %d", &got, &other); err != nil {
		t.Fatalf("rtspraw printed %q: %v", r.out, err)
	}
	t.Logf("the player got %d packets (%d others); director Udp InDatagrams +%d", got, other, in)
	if got < secs*200/3 || other != 0 {
		t.Errorf("the player got %d packets of the source and %d others; want at least %d, 0", got, other, secs*200/3)
	}
	if in*10 >= got {
		t.Errorf("the director delivered %d datagrams to its sockets for %d the player got: not on the kernel path", in, got)
	}
	found := ""
	for _, l := range strings.Split(ct, "\n") {
		if strings.Contains(l, " udp ") && strings.Contains(l, fmt.Sprintf("src=%s dst=%s sport=%d", realserver, directorR, rtspSourceUDP)) &&
			strings.Contains(l, fmt.Sprintf("src=%s dst=%s sport=40000", clientIP, vip)) {
			found = l
		}
	}
	if found == "" {
		t.Errorf("no conntrack entry made by the realserver's first packet (original direction realserver to %s, reply from the client's port 40000):\n%s", directorR, ct)
	} else {
		t.Logf("conntrack: %s", found)
	}
}

// TestRTSPKernelTimeout: a player (testdata/rtspraw.py rr) closes its
// control connection without a TEARDOWN and then only sends RTCP
// receiver reports, for 5 s, through the kernel: algd reads none of them,
// yet its session (3 s timeout, from the realserver's Session header)
// must see them in conntrack's counters and go on, the media flowing.
// Then the player falls silent: algd must end the session by its
// timeout and cut the flows, so that nothing arrives in the last 2 s of
// 7 s of silence, although the realserver (8 s idle timeout) would still
// be sending.
func TestRTSPKernelTimeout(t *testing.T) {
	if algdBin == "" {
		t.Fatal("TestRTSPKernelTimeout needs algd: unset ALGD_INTEROP_DIRECT")
	}
	tp := rtspTopology(t)
	src := buildSource(t)
	rs := startSource(t, tp, src, realserver, "8")
	ctrl := startKernelListener(t, tp, rs, 63400, 63449, 63500, 63549)
	before := udpIn(t, tp.director)
	done := rawPlayer(t, tp, "rr", fmt.Sprintf("rtsp://%s/stream", ctrl), "40000", "5", "7")
	time.Sleep(4500 * time.Millisecond) // the receiver reports have outlived the timeout
	live := rtspMetric(t, tp, "algd_rtsp_media_sessions")
	r := <-done
	in := udpIn(t, tp.director) - before
	if r.err != nil {
		t.Fatalf("rtspraw: %v\n%s", r.err, r.out)
	}
	var got, other, late int64
	if _, err := fmt.Sscanf(lastLine(r.out, "got "), "got %d other %d late %d", &got, &other, &late); err != nil {
		t.Fatalf("rtspraw printed %q: %v", r.out, err)
	}
	ended := rtspMetric(t, tp, "algd_rtsp_media_sessions_ended_total")
	t.Logf("the player got %d packets (%d others, %d in the last 2 s); director Udp InDatagrams +%d; media sessions %d at 4.5 s, %d ended at the end",
		got, other, late, in, live, ended)
	if live != 1 {
		t.Errorf("%d media sessions while the player sent receiver reports for longer than the timeout, want 1", live)
	}
	if got < 5*200/3 || other != 0 {
		t.Errorf("the player got %d packets of the source and %d others; want at least %d, 0", got, other, 5*200/3)
	}
	if late != 0 || ended != 1 || rtspMetric(t, tp, "algd_rtsp_media_sessions") != 0 {
		t.Errorf("after the silence: %d packets in its last 2 s, %d sessions ended, want 0 and 1, and no media session left", late, ended)
	}
	if in*10 >= got {
		t.Errorf("the director delivered %d datagrams to its sockets for %d the player got: not on the kernel path", in, got)
	}
}
