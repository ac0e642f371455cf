package tests

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/tests/fakeftpd"
)

// statSession starts a fake ftpd answering STAT with stat, algd in front
// of it (maxReply is max_reply_bytes, 0 the default) and a client past the
// greeting.
func statSession(t *testing.T, stat func(w io.Writer) error, maxReply int) (*fakeftpd.Server, *proxy, *rawSession, *bufio.Reader) {
	t.Helper()
	rs := fakeftpd.Stat(t, "127.0.0.41", stat)
	px := startProxyAddrs(t, []netip.AddrPort{rs.Addr},
		proxyOpts{first: 61900, last: 61909, health: conf.Health{Kind: "none"}, maxReply: maxReply})
	s := rawDial(t, clientIP, px.addr)
	br := bufio.NewReader(s.c)
	readRawReply(t, br)
	return rs, px, s, br
}

// readRawReply reads one reply (multi-line aware) from r and returns its
// lines without line ends.
func readRawReply(t *testing.T, r *bufio.Reader) []string {
	t.Helper()
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading reply after %d lines: %v", len(lines), err)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		first := lines[0]
		if len(first) < 4 || first[3] != '-' {
			return lines
		}
		if len(lines) > 1 && len(l) >= 4 && l[:3] == first[:3] && l[3] == ' ' {
			return lines
		}
	}
}

// TestLongReplyRelayed: a STAT reply of 20,000 lines (a directory of that
// many entries) reaches the client whole and byte for byte, and the
// session goes on.
func TestLongReplyRelayed(t *testing.T) {
	stat := fakeftpd.StatLines(20000, 80)
	var want bytes.Buffer
	stat(&want)
	_, _, s, br := statSession(t, stat, 0)
	s.c.Write([]byte("STAT /big\r\n"))
	lines := readRawReply(t, br)
	got := strings.Join(lines, "\r\n") + "\r\n"
	if len(lines) != 20002 || sha256.Sum256([]byte(got)) != sha256.Sum256(want.Bytes()) {
		t.Fatalf("STAT: %d lines, %d bytes, last %q; want 20002 lines, %d bytes, the realserver's exactly",
			len(lines), len(got), lines[len(lines)-1], want.Len())
	}
	s.c.Write([]byte("NOOP\r\n"))
	if r := readRawReply(t, br); r[0] != "200 ok" {
		t.Fatalf("NOOP after STAT: %q", r)
	}
}

// TestReplyOverLimitTruncated: a reply beyond max_reply_bytes reaches the
// client up to the limit and then ends cleanly with algd's last line;
// algd drops the rest of it and the session goes on in step.
func TestReplyOverLimitTruncated(t *testing.T) {
	_, _, s, br := statSession(t, fakeftpd.StatLines(20000, 80), 100<<10)
	s.c.Write([]byte("STAT /big\r\n"))
	lines := readRawReply(t, br)
	size := 0
	for _, l := range lines {
		size += len(l) + 2
	}
	if last := lines[len(lines)-1]; last != "211 Reply truncated by algd." || size > 100<<10+100 || size < 90<<10 {
		t.Fatalf("STAT over the limit: %d lines, %d bytes, last %q", len(lines), size, last)
	}
	s.c.Write([]byte("NOOP\r\n"))
	if r := readRawReply(t, br); r[0] != "200 ok" {
		t.Fatalf("NOOP after a truncated STAT: %q", r)
	}
}

// TestHostileReplyMemory: realservers send 72 MB STAT replies (9,000
// lines of 8,000 bytes, "many long directory names") to clients that do
// not read. algd relays what the client's socket takes and then waits; its
// heap stays within a bound per session instead of holding the replies.
func TestHostileReplyMemory(t *testing.T) {
	const sessions = 5
	const perSession = 4 << 20 // the bound asserted, generous
	rs := fakeftpd.Stat(t, "127.0.0.41", fakeftpd.StatLines(9000, 8000))
	px := startProxyAddrs(t, []netip.AddrPort{rs.Addr},
		proxyOpts{first: 61900, last: 61909, health: conf.Health{Kind: "none"}})
	before := heapInuse()
	var clients []*rawSession
	for range sessions {
		s := rawDial(t, clientIP, px.addr)
		br := bufio.NewReader(s.c)
		readRawReply(t, br)
		s.c.Write([]byte("STAT /big\r\n"))
		clients = append(clients, s)
	}
	// The realserver writes until algd stops reading: when its count has
	// not moved for a second, every session is blocked on its client.
	last := rs.WaitBlocked()
	grown := int64(heapInuse()) - int64(before)
	if n := px.counter(t, "active"); n != sessions {
		t.Fatalf("%d sessions open; want all %d, blocked", n, sessions)
	}
	t.Logf("%d sessions blocked after the realserver wrote %d MB: heap %+d KiB (%d KiB per session)",
		sessions, last>>20, grown>>10, grown/sessions>>10)
	if last < sessions*(1<<20) {
		t.Fatalf("the realserver wrote only %d bytes", last)
	}
	if grown > sessions*perSession {
		t.Fatalf("heap grew by %d bytes for %d sessions; want under %d per session", grown, sessions, perSession)
	}
	for _, s := range clients {
		s.c.Close()
	}
}

// heapInuse returns the bytes in use on the heap after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestClientLineWithoutEnd: a client sending a 64 MB line without a line
// end, in the clear or under TLS, gets 500 once max_line_bytes is passed,
// not the idle timeout's 421, and the session ends.
func TestClientLineWithoutEnd(t *testing.T) {
	px, roots := startFTPS(t, proxyOpts{first: 61910, last: 61919}, nil)
	for _, under := range []string{"plain", "TLS"} {
		t.Run(under, func(t *testing.T) {
			s := rawDial(t, clientIP, px.addr)
			s.reply()
			if under == "TLS" {
				if r := s.cmd("AUTH TLS"); !strings.HasPrefix(r, "234 ") {
					t.Fatalf("AUTH TLS: %q", r)
				}
				tc := tls.Client(s.c, &tls.Config{RootCAs: roots, ServerName: vipIP})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				s.c = tc
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				chunk := bytes.Repeat([]byte("A"), 1<<20)
				s.c.Write([]byte("NOOP "))
				for range 64 {
					if _, err := s.c.Write(chunk); err != nil {
						return
					}
				}
			}()
			br := bufio.NewReader(s.c)
			r := readRawReply(t, br)
			if !strings.HasPrefix(r[0], "500 ") {
				t.Fatalf("a line without end got %q; want 500", r)
			}
			if rest, err := io.ReadAll(br); len(rest) > 0 {
				t.Fatalf("after the 500: %q, %v; want the end of the connection", rest, err)
			}
			s.c.Close()
			<-done
		})
	}
}

// TestRealserverLineWithoutEnd: a realserver sending a reply line without
// end is given up once the line passes the limit (the client gets 421),
// not after the idle timeout.
func TestRealserverLineWithoutEnd(t *testing.T) {
	_, _, s, br := statSession(t, func(w io.Writer) error {
		chunk := bytes.Repeat([]byte("A"), 1<<20)
		io.WriteString(w, "211-Status\r\n211-")
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	}, 0)
	s.c.Write([]byte("STAT\r\n"))
	r := readRawReply(t, br)
	if r[len(r)-1] == "211 Reply truncated by algd." {
		r = readRawReply(t, br)
	}
	if !strings.HasPrefix(r[0], "421 ") {
		t.Fatalf("a reply line without end got the client %q; want 421", r)
	}
}

// TestHeldReplyOverCap: replies algd reads whole before relaying (FEAT,
// 227) are capped: a 5,000-line FEAT reaches the client cut and ended by
// algd's line, a 227 too long to hold is answered 425, and the session
// goes on in step.
func TestHeldReplyOverCap(t *testing.T) {
	feat := "211-Features:\r\n" + strings.Repeat(" MDTM\r\n", 5000) + "211 End\r\n"
	pasv := "227-" + strings.Repeat("x", 100) + "\r\n" + strings.Repeat("227-(127,0,0,41,250,1)\r\n", 5000) +
		"227 Entering Passive Mode (127,0,0,41,250,1)\r\n"
	rs := rawFTPD(t, "127.0.0.41", "220 hi\r\n", func(line string) string {
		switch line {
		case "FEAT":
			return feat
		case "PASV":
			return pasv
		}
		return "200 ok\r\n"
	})
	px := startProxyAddrs(t, []netip.AddrPort{rs},
		proxyOpts{first: 61920, last: 61929, health: conf.Health{Kind: "none"}})
	s := rawDial(t, clientIP, px.addr)
	br := bufio.NewReader(s.c)
	readRawReply(t, br)
	s.c.Write([]byte("FEAT\r\n"))
	lines := readRawReply(t, br)
	if n := len(lines); n > 1010 || lines[n-1] != "211 Reply truncated by algd." || !slices.Contains(lines, " EPSV") {
		t.Fatalf("FEAT of 5,000 lines: %d lines, last %q", n, lines[n-1])
	}
	s.c.Write([]byte("PASV\r\n"))
	if r := readRawReply(t, br); len(r) != 1 || !strings.HasPrefix(r[0], "425 ") {
		t.Fatalf("PASV with a 227 over the cap: %q", r)
	}
	s.c.Write([]byte("NOOP\r\n"))
	if r := readRawReply(t, br); r[0] != "200 ok" {
		t.Fatalf("NOOP after: %q", r)
	}
}

// TestSlowReplyNotIdle: a client reading a long reply that the realserver
// sends slowly, for longer than control_idle_timeout, gets all of it: the
// relayed reply counts as activity, as data does.
func TestSlowReplyNotIdle(t *testing.T) {
	rs := fakeftpd.Stat(t, "127.0.0.41", func(w io.Writer) error {
		bw := w.(*bufio.Writer)
		io.WriteString(bw, "211-slow status\r\n")
		for i := range 15 {
			fmt.Fprintf(bw, " entry %d\r\n", i)
			if err := bw.Flush(); err != nil {
				return err
			}
			time.Sleep(200 * time.Millisecond)
		}
		_, err := io.WriteString(bw, "211 End\r\n")
		return err
	})
	px := startProxyAddrs(t, []netip.AddrPort{rs.Addr},
		proxyOpts{first: 61900, last: 61909, health: conf.Health{Kind: "none"}, idle: time.Second})
	s := rawDial(t, clientIP, px.addr)
	br := bufio.NewReader(s.c)
	readRawReply(t, br)
	s.c.Write([]byte("STAT\r\n"))
	if r := readRawReply(t, br); len(r) != 17 || r[16] != "211 End" {
		t.Fatalf("slow STAT: %d lines, last %q; want 17, 211 End", len(r), r[len(r)-1])
	}
	s.c.Write([]byte("NOOP\r\n"))
	if r := readRawReply(t, br); r[0] != "200 ok" {
		t.Fatalf("NOOP after: %q", r)
	}
}
