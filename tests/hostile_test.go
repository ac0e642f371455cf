package tests

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/conf"
	algftp "github.com/algd/algd/ftp"
	"github.com/algd/algd/tests/fakeftpd"
	"github.com/algd/algd/tests/ftpc"
)

// fakeFTPD is a scripted realserver that answers PASV with pasv, whatever
// it is: the hostile or broken realserver no real ftpd imitates on demand.
func fakeFTPD(t *testing.T, pasv string) netip.AddrPort {
	t.Helper()
	return scriptedFTPD(t, "220 scripted", pasv)
}

// fakeFTPDGreeting is a scripted realserver greeting with greeting.
func fakeFTPDGreeting(t *testing.T, greeting string) netip.AddrPort {
	t.Helper()
	return scriptedFTPD(t, greeting, "227 Entering Passive Mode (127,0,0,31,250,1)")
}

// scriptedFTPD answers every connection with greeting, then a fixed
// script; PASV gets pasv.
func scriptedFTPD(t *testing.T, greeting, pasv string) netip.AddrPort {
	t.Helper()
	return fakeftpd.Start(t, "127.0.0.31", greeting+"\r\n", fakeftpd.Logins(func(s *fakeftpd.Session, verb, _, _ string) bool {
		if verb == "PASV" {
			s.Say("%s", pasv)
		} else {
			s.Say("200 ok")
		}
		return true
	})).Addr
}

// TestUnusablePASVReply answers 425 to the client for 227 replies algd
// cannot use, counts them, and the session goes on.
func TestUnusablePASVReply(t *testing.T) {
	for _, reply := range []string{
		"227 Entering Passive Mode (127,0,0,31,300,1).",
		"227 Entering Passive Mode (127,0,0,31,0,0).",
		"227 Passive mode, but no numbers",
		"227 Entering Passive Mode (127,0,0,31,-1,5).",
		"200 not what was asked",
	} {
		t.Run(reply, func(t *testing.T) {
			addr := fakeFTPD(t, reply)
			px := startProxyAddrs(t, []netip.AddrPort{addr}, proxyOpts{first: 61660, last: 61669})
			s := rawDial(t, clientIP, px.addr)
			s.reply()
			s.cmd("USER x")
			s.cmd("PASS y")
			if r := s.cmd("PASV"); !strings.HasPrefix(r, "425 ") {
				t.Fatalf("PASV answered %q, want 425", r)
			}
			if r := s.cmd("NOOP"); !strings.HasPrefix(r, "200 ") {
				t.Fatalf("session broken after 425: %q", r)
			}
			if n := px.counter(t, "bad_backend_replies"); n != 1 {
				t.Fatalf("bad replies counted %d, want 1", n)
			}
		})
	}
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return fakeftpd.Serve(t, ln).Addr
}

// TestFailoverOnGreeting sends every session to a working realserver
// although the pool also holds one that never greets and one that greets
// with 421 (full): algd waits for a 220 within the connect timeout and
// tries the next realserver. With only broken ones the client gets the
// last refusal.
func TestFailoverOnGreeting(t *testing.T) {
	good := startFTPServers(t, 1)[0]
	silent := silentServer(t, "127.0.0.32:0")
	full := fakeFTPDGreeting(t, "421 Too many users, try later.")
	none := conf.Health{Kind: "none"}
	px := startProxyAddrs(t, []netip.AddrPort{silent, full, good.Addr()},
		proxyOpts{first: 61670, last: 61679, health: none, connectTimeout: 300 * time.Millisecond})
	for i := range 3 {
		c, err := dialFTP(t, px.addr, true, nil)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if err := roundTrip(c, fmt.Sprintf("failover-%d", i), randomBytes(1000)); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		c.Quit()
	}
	broken := startProxyAddrs(t, []netip.AddrPort{silent, full},
		proxyOpts{first: 61680, last: 61689, health: none, connectTimeout: 300 * time.Millisecond})
	s := rawDial(t, clientIP, broken.addr)
	if r := s.reply(); !strings.HasPrefix(r, "421 Too many users") {
		t.Fatalf("with no working realserver: %q, want the realserver's 421", r)
	}
}

// dyingFTPD is a realserver that dies in the middle of every upload: it
// answers PASV with a real data listener, STOR with 150, reads 256 KiB of
// the file and then resets both its data and its control connection, as a
// killed ftpd's kernel does.
func dyingFTPD(t *testing.T) netip.AddrPort {
	t.Helper()
	return fakeftpd.Start(t, "127.0.0.33", "220 mortal\r\n", fakeftpd.Logins(func(s *fakeftpd.Session, verb, _, _ string) bool {
		switch verb {
		case "PASV":
			return s.Passive(verb) == nil
		case "STOR":
			s.Say("150 go ahead")
			d, err := s.AcceptData(0)
			if err != nil {
				return false
			}
			io.CopyN(io.Discard, d, 256<<10)
			d.(*net.TCPConn).SetLinger(0)
			d.Close()
			s.Conn.(*net.TCPConn).SetLinger(0)
			return false // the connection is closed (reset)
		}
		s.Say("200 ok")
		return true
	})).Addr
}

// TestRealserverDiesDuringUpload: whatever the mode, a client whose
// realserver dies mid-upload gets a reply on its control connection (421),
// never a bare close.
func TestRealserverDiesDuringUpload(t *testing.T) {
	for _, mode := range []ftpc.Mode{ftpc.PASV, ftpc.EPSV, ftpc.PORT, ftpc.EPRT} {
		t.Run(mode.String(), func(t *testing.T) {
			px := startProxyAddrs(t, []netip.AddrPort{dyingFTPD(t)},
				proxyOpts{first: 61560, last: 61569, health: conf.Health{Kind: "none"}})
			c := dialC(t, px.addr)
			tr, err := c.Stor(mode, "doomed", randomBytes(8<<20))
			if err == nil {
				t.Fatal("the upload succeeded although the realserver died")
			}
			// ftpc reads the control reply after a failed data write, as
			// real clients do: it is in tr.Final (or the error itself).
			var re *ftpc.ReplyError
			if errors.As(err, &re) && re.Reply.Code == 421 {
				return
			}
			if tr.Final.Code != 421 {
				t.Fatalf("upload failed with %v; the control connection then said %q; want 421", err, tr.Final)
			}
		})
	}
}

// rawFTPD is a realserver whose every reply is written by reply(line),
// raw: the hostile realserver no real ftpd imitates on demand. It greets
// with greeting (as raw bytes, CRLF included if wanted); a reply ending in
// "|close" is written without that suffix and the connection closed.
func rawFTPD(t *testing.T, ip, greeting string, reply func(line string) string) netip.AddrPort {
	t.Helper()
	return fakeftpd.Start(t, ip, greeting, func(s *fakeftpd.Session, _, _, line string) bool {
		out, closing := strings.CutSuffix(reply(line), "|close")
		_, err := io.WriteString(s, out)
		return err == nil && !closing
	}).Addr
}

// TestHostileRealserverReplies: a greeting without CRLF, an endless
// multi-line reply and a reply without CRLF (then a close, or silence for
// the idle timeout) each end in a proper reply to the client (421), never
// a hang. A multi-line reply is relayed as it comes: when the realserver
// fails in the middle of one, algd first ends it for the client ("230
// Reply truncated by algd.") and then says 421.
func TestHostileRealserverReplies(t *testing.T) {
	none := conf.Health{Kind: "none"}
	endless := strings.Repeat("230-and more\r\n", 20000) // then silence
	for _, tc := range []struct {
		name     string
		greeting string
		reply    func(string) string
		cmd      string
	}{
		{"greeting without CRLF", "220 no line end", func(string) string { return "" }, ""},
		{"endless multi-line greeting", "220-hello\r\n" + endless, func(string) string { return "" }, ""},
		{"endless multi-line reply", "220 hi\r\n", func(string) string { return endless }, "NOOP"},
		{"reply without CRLF, then close", "220 hi\r\n", func(string) string { return "200 cut|close" }, "NOOP"},
		{"reply without CRLF, then silence", "220 hi\r\n", func(string) string { return "200 cut" }, "NOOP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := rawFTPD(t, "127.0.0.34", tc.greeting, tc.reply)
			px := startProxyAddrs(t, []netip.AddrPort{rs},
				proxyOpts{first: 61570, last: 61579, health: none, connectTimeout: 500 * time.Millisecond, idle: time.Second})
			s := rawDial(t, clientIP, px.addr)
			r := s.reply()
			if tc.cmd != "" {
				if !strings.HasPrefix(r, "220 ") {
					t.Fatalf("greeting %q", r)
				}
				s.c.Write([]byte(tc.cmd + "\r\n"))
				r = s.reply()
				if r == "230 Reply truncated by algd." {
					r = s.reply()
				}
			}
			if !strings.HasPrefix(r, "421 ") {
				t.Fatalf("got %q, want 421", r)
			}
		})
	}
}

// TestTelnetRefusedNonUTF8Verbatim: non-UTF-8 path bytes (RFC 959 §5.3.2
// via RFC 2640) reach the realserver exactly as sent; a Telnet IAC
// anywhere but before ABOR, which proftpd would strip and vsftpd keep, is
// refused by algd (500, counted) and never reaches the realserver, and the
// session goes on.
func TestTelnetRefusedNonUTF8Verbatim(t *testing.T) {
	var mu sync.Mutex
	var got []string
	rs := rawFTPD(t, "127.0.0.35", "220 echo\r\n", func(line string) string {
		mu.Lock()
		got = append(got, line)
		mu.Unlock()
		return fmt.Sprintf("250 got %x\r\n", line)
	})
	px := startProxyAddrs(t, []netip.AddrPort{rs},
		proxyOpts{first: 61580, last: 61589, health: conf.Health{Kind: "none"}})
	s := rawDial(t, clientIP, px.addr)
	s.reply()
	arg := "dir\xe9\xa0\x80name\xfe\xf4\xf2.txt"
	r := s.cmd("MKD " + arg)
	if want := fmt.Sprintf("250 got %x", "MKD "+arg); r != want {
		t.Fatalf("the realserver got %q, want %q", r, want)
	}
	for i, line := range []string{"MKD dir\xff\xffname", "MK\xff\xf4D x", "\xff\xf4\xff\xf2MKD x"} {
		if r := s.cmd(line); !strings.HasPrefix(r, "500 ") {
			t.Fatalf("%q answered %q, want 500", line, r)
		}
		if n := px.counter(t, "commands_refused."+algftp.RefusedTelnet.String()); n != int64(i+1) {
			t.Fatalf("telnet refusals counted %d, want %d", n, i+1)
		}
	}
	if r := s.cmd("NOOP"); r != fmt.Sprintf("250 got %x", "NOOP") {
		t.Fatalf("session broken after the refusals: %q", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"MKD " + arg, "NOOP"}; !slices.Equal(got, want) {
		t.Fatalf("the realserver got %q, want %q", got, want)
	}
}
