package tests

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// fakeFTPD is a scripted realserver that answers PASV with pasv, whatever
// it is: the hostile or broken realserver no real ftpd imitates on demand.
func fakeFTPD(t *testing.T, pasv string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.31:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("220 scripted\r\n"))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
					switch strings.ToUpper(verb) {
					case "USER":
						c.Write([]byte("331 password\r\n"))
					case "PASS":
						c.Write([]byte("230 in\r\n"))
					case "PASV":
						c.Write([]byte(pasv + "\r\n"))
					case "QUIT":
						c.Write([]byte("221 bye\r\n"))
						return
					default:
						c.Write([]byte("200 ok\r\n"))
					}
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
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
			if n := px.handler.Stats.BadBackendReplies.Load(); n != 1 {
				t.Fatalf("bad replies counted %d, want 1", n)
			}
		})
	}
}
