// Package disguise is the table of disguised FTP command lines that algd's
// suites run through algd in front of every ftpd they know (ftpserverlib
// in-process; vsftpd, pure-ftpd and proftpd under the interop tag): Telnet
// sequences inside the verb and the argument, every ASCII control and
// whitespace character as a separator, case variants, leading and
// trailing spaces, overlong verbs. For each line algd must either refuse
// it (500, counted by reason) or read it as the realserver would, which
// Run checks by what the realserver then did: a disguised USER never
// logs in without TLS, a disguised PORT never makes a connection, a
// disguised PROT C never turns protection off.
package disguise

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	algftp "github.com/algd/algd/ftp"
)

// Case is one disguised line.
type Case struct {
	// Name says what the disguise is.
	Name string
	// Line is the line without its line end, or with it when Raw.
	Line []byte
	// Raw: Line carries its own line end (a bare LF).
	Raw bool
}

// Wire is what the client sends: Line and CR LF, or Line when Raw.
func (c Case) Wire() []byte {
	if c.Raw {
		return c.Line
	}
	return append(append([]byte(nil), c.Line...), '\r', '\n')
}

// Pieces splits Wire into the lines algd reads, each with its line end:
// one, or more when the disguise holds an LF.
func (c Case) Pieces() [][]byte {
	var out [][]byte
	w := c.Wire()
	for len(w) > 0 {
		i := strings.IndexByte(string(w), '\n')
		out = append(out, w[:i+1])
		w = w[i+1:]
	}
	return out
}

// Reading is how algd reads one piece (a line with its end, as from
// Pieces): its Command, or refused with a reason. A NUL byte is refused
// (control) and ends the session; a bare LF line end is refused (control)
// unless ParseCommand refuses the line first.
func Reading(piece []byte) (cmd algftp.Command, refused bool, reason algftp.Refusal) {
	line := piece[:len(piece)-1]
	crlf := false
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line, crlf = line[:n-1], true
	}
	if strings.IndexByte(string(line), 0) >= 0 {
		return algftp.Command{}, true, algftp.RefusedControl
	}
	cmd, err := algftp.ParseCommand(line)
	var le *algftp.LineError
	switch {
	case errors.As(err, &le):
		return algftp.Command{}, true, le.Reason
	case !crlf:
		return algftp.Command{}, true, algftp.RefusedControl
	}
	return cmd, false, 0
}

// Closes reports whether algd ends the session on c (a NUL byte).
func (c Case) Closes() bool { return strings.IndexByte(string(c.Line), 0) >= 0 }

// telnet are Telnet sequences (RFC 854): IP, DM, the Synch of ABOR, the
// option negotiations, an escaped IAC, NOP and a subnegotiation.
var telnet = []struct{ name, seq string }{
	{"IAC IP", "\xff\xf4"}, {"IAC DM", "\xff\xf2"}, {"IAC IP IAC DM", "\xff\xf4\xff\xf2"},
	{"IAC WILL", "\xff\xfb\x01"}, {"IAC WONT", "\xff\xfc\x01"}, {"IAC DO", "\xff\xfd\x01"}, {"IAC DONT", "\xff\xfe\x01"},
	{"IAC IAC", "\xff\xff"}, {"IAC NOP", "\xff\xf1"}, {"IAC SB SE", "\xff\xfa\x18\x00\xff\xf0"},
}

// Of returns the disguises of the command "verb arg" (verb upper case,
// arg not empty), the plain line first.
func Of(verb, arg string) []Case {
	var out []Case
	add := func(name, line string) { out = append(out, Case{Name: name, Line: []byte(line)}) }
	add("plain", verb+" "+arg)
	add("lower case", strings.ToLower(verb)+" "+arg)
	add("mixed case", strings.ToLower(verb[:1])+verb[1:]+" "+arg)
	add("leading space", " "+verb+" "+arg)
	add("two leading spaces", "  "+verb+" "+arg)
	add("trailing space", verb+" "+arg+" ")
	add("two spaces", verb+"  "+arg)
	add("no separator", verb+arg)
	add("overlong verb", verb+"X "+arg)
	add("doubled verb", verb+verb+verb+" "+arg)
	add("verb behind a letter", "X"+verb+" "+arg)
	add("@ in verb", verb[:1]+"@"+verb[2:]+" "+arg)
	add("NBSP separator", verb+"\xa0"+arg)
	add("0xFE separator", verb+"\xfe"+arg)
	add("ABOR prefix", "\xff\xf4\xff\xf2"+verb+" "+arg)
	add("lone DM prefix", "\xf2"+verb+" "+arg)
	for b := 0; b < 0x20; b++ {
		c := string(rune(b))
		add(fmt.Sprintf("%#02x separator", b), verb+c+arg)
		add(fmt.Sprintf("%#02x after space", b), verb+" "+c+arg)
		add(fmt.Sprintf("%#02x in verb", b), verb[:1]+c+verb[1:]+" "+arg)
		add(fmt.Sprintf("%#02x leading", b), c+verb+" "+arg)
		add(fmt.Sprintf("%#02x trailing", b), verb+" "+arg+c)
	}
	add("DEL separator", verb+"\x7f"+arg)
	add("DEL in verb", verb[:1]+"\x7f"+verb[1:]+" "+arg)
	add("lone CR at the end", verb+" "+arg+"\r")
	for _, tn := range telnet {
		add(tn.name+" in verb", verb[:1]+tn.seq+verb[1:]+" "+arg)
		add(tn.name+" before verb", tn.seq+verb+" "+arg)
		add(tn.name+" as separator", verb+tn.seq+" "+arg)
		add(tn.name+" in argument", verb+" "+arg[:1]+tn.seq+arg[1:])
		add(tn.name+" at the end", verb+" "+arg+tn.seq)
	}
	out = append(out, Case{Name: "bare LF line end", Line: []byte(verb + " " + arg + "\n"), Raw: true})
	return out
}

// Env is one algd listener in front of one realserver, set up with
// [ftp.tls] required = true and require_prot_p = true, PORT/EPRT to other
// hosts refused (allow_foreign_data off) and backend_data_mode "active".
type Env struct {
	// VIP is algd's listener; From the client's address.
	VIP  netip.AddrPort
	From netip.Addr
	// TLS is the client's configuration for AUTH TLS to algd.
	TLS *tls.Config
	// User and Password log in to the realserver.
	User, Password string
	// Target is where disguised PORT and EPRT point: an address of algd's
	// backend side, on which the test listens. It must never see a
	// connection.
	Target *net.TCPListener
	// Counters returns algd's refusal counters now: by reason label, and
	// "bounce" for PORT/EPRT refused for naming a foreign address.
	Counters func() (map[string]int64, error)
	// Timeout bounds each reply. Default 10s.
	Timeout time.Duration
}

// Run sends every disguise of USER, PASS (plain, before AUTH TLS), PORT,
// EPRT and PROT C (under TLS, logged in, after PROT P) through algd and
// checks each outcome against algd's reading (Case.Reading):
//   - refused: a 500 from algd and its reason's counter up by one;
//   - USER/PASS read: 530 from algd (tls counted), never 331 or 230;
//   - PORT/EPRT read: 504 (bounce counted) or 501; a LIST after it
//     is refused by the realserver, and Target never sees a connection;
//   - PROT read: 534 (prot counted).
//
// After the plain table the realserver must still say 530 to PWD (no
// disguise logged in).
func Run(t *testing.T, env Env) {
	t.Helper()
	if env.Timeout == 0 {
		env.Timeout = 10 * time.Second
	}
	tp := netip.MustParseAddrPort(env.Target.Addr().String())
	h4 := strings.ReplaceAll(tp.Addr().String(), ".", ",")
	port := fmt.Sprintf("%s,%d,%d", h4, tp.Port()>>8, tp.Port()&0xff)
	eprt := fmt.Sprintf("|1|%s|%d|", tp.Addr(), tp.Port())

	var closing []Case
	t.Run("before TLS", func(t *testing.T) {
		c := dial(t, env)
		for _, base := range [][2]string{{"USER", env.User}, {"PASS", env.Password}} {
			for _, tc := range Of(base[0], base[1]) {
				if tc.Closes() {
					closing = append(closing, tc)
					continue
				}
				c.run(t, tc, base[0], func(cmd algftp.Command, code int) (string, bool) {
					return "tls", code == 530
				})
			}
		}
		if code, text := c.cmd(t, []byte("PWD")); code != 530 {
			t.Errorf("PWD after the disguised logins: %d %q, want 530 (not logged in)", code, text)
		}
	})
	t.Run("closing", func(t *testing.T) {
		for _, tc := range closing {
			c := dial(t, env)
			c.run(t, tc, "", nil)
			c.c.SetDeadline(time.Now().Add(c.env.Timeout))
			if n, err := c.r.ReadByte(); err == nil {
				t.Errorf("%s: session still open after the NUL (read %q)", tc.Name, n)
			}
			c.c.Close()
		}
	})
	t.Run("under TLS", func(t *testing.T) {
		c := dial(t, env)
		c.startTLS(t, env)
		for _, l := range []string{"PBSZ 0", "PROT P", "USER " + env.User, "PASS " + env.Password, "TYPE I"} {
			if code, text := c.cmd(t, []byte(l)); code >= 400 {
				t.Fatalf("%s: %d %q", strings.Fields(l)[0], code, text)
			}
		}
		for _, base := range [][2]string{{"PORT", port}, {"EPRT", eprt}, {"PROT", "C"}} {
			for _, tc := range Of(base[0], base[1]) {
				if tc.Closes() {
					continue // run before TLS: the outcome is the same
				}
				c.run(t, tc, base[0], func(cmd algftp.Command, code int) (string, bool) {
					if cmd.Verb == "PROT" {
						return "prot", code == 534
					}
					if code == 501 {
						return "", true
					}
					return "bounce", code == 504
				})
				if base[0] != "PROT" {
					if code, text := c.cmd(t, []byte("LIST")); code < 400 {
						t.Errorf("%s %q: LIST after it answered %d %q: a data connection was set up", tc.Name, tc.Line, code, text)
						if code < 200 {
							c.reply(t) // the final reply
						}
					}
				}
				if from := accepted(env.Target); from != "" {
					t.Errorf("%s %q: the target %s got a connection from %s", tc.Name, tc.Line, tp, from)
				}
			}
		}
		if code, text := c.cmd(t, []byte("NOOP")); code != 200 {
			t.Errorf("NOOP after the table: %d %q", code, text)
		}
	})
}

// run sends tc and checks the reply to each piece against algd's reading
// of it (Reading): a refusal must be a 500 that moved its reason's counter
// by one; a line algd read as verb gets what policy says: the counter that
// must move ("" for none) and whether the reply code is right. Any other
// counter must stay where it was.
func (c *conn) run(t *testing.T, tc Case, verb string, policy func(algftp.Command, int) (string, bool)) {
	t.Helper()
	c.c.SetDeadline(time.Now().Add(c.env.Timeout))
	if _, err := c.c.Write(tc.Wire()); err != nil {
		t.Fatalf("%s: write: %v", tc.Name, err)
	}
	moved := map[string]int64{} // the counters the pieces must move
	for _, piece := range tc.Pieces() {
		code, text := c.reply(t)
		cmd, refused, reason := Reading(piece)
		want, ok := reason.String(), code == 500
		switch {
		case refused:
		case cmd.Verb == "":
			want = "" // an empty line: 500, not forwarded, not counted
		case cmd.Verb != verb || policy == nil:
			want, ok = "", false
		default:
			want, ok = policy(cmd, code)
		}
		if !ok {
			t.Errorf("%s %q: %d %q; algd reads %q as %q (refused: %v %s)", tc.Name, tc.Line, code, text, piece, cmd.LogString(), refused, reason)
		}
		if code == 331 || code == 230 || code == 232 {
			t.Errorf("%s %q: %d %q: logged in without TLS", tc.Name, tc.Line, code, text)
		}
		if want != "" {
			moved[want]++
		}
	}
	if c.env.Counters == nil {
		return
	}
	prev, now := lastCounters[c.env.VIP], counters(t, c.env)
	lastCounters[c.env.VIP] = now
	for k := range now {
		if now[k] != prev[k]+moved[k] {
			t.Errorf("%s %q: counter %q went %d → %d, want +%d", tc.Name, tc.Line, k, prev[k], now[k], moved[k])
		}
	}
}

// lastCounters are the counters after the previous line, per listener.
var lastCounters = map[netip.AddrPort]map[string]int64{}

func counters(t *testing.T, env Env) map[string]int64 {
	t.Helper()
	m, err := env.Counters()
	if err != nil {
		t.Fatalf("counters: %v", err)
	}
	return m
}

// conn is a control connection to algd.
type conn struct {
	c   net.Conn
	r   *bufio.Reader
	env Env
}

func dial(t *testing.T, env Env) *conn {
	t.Helper()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(env.From, 0)), Timeout: env.Timeout}
	c, err := d.Dial("tcp", env.VIP.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cn := &conn{c: c, r: bufio.NewReader(c), env: env}
	if code, text := cn.reply(t); code != 220 {
		t.Fatalf("greeting %d %q", code, text)
	}
	if env.Counters != nil {
		lastCounters[env.VIP] = counters(t, env)
	}
	return cn
}

// startTLS sends AUTH TLS and handshakes.
func (c *conn) startTLS(t *testing.T, env Env) {
	t.Helper()
	if code, text := c.cmd(t, []byte("AUTH TLS")); code != 234 {
		t.Fatalf("AUTH TLS: %d %q", code, text)
	}
	tc := tls.Client(c.c, env.TLS)
	tc.SetDeadline(time.Now().Add(env.Timeout))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
}

// cmd writes line with CRLF and reads the reply.
func (c *conn) cmd(t *testing.T, line []byte) (int, string) {
	t.Helper()
	return c.write(t, append(append([]byte(nil), line...), '\r', '\n'))
}

func (c *conn) write(t *testing.T, b []byte) (int, string) {
	t.Helper()
	c.c.SetDeadline(time.Now().Add(c.env.Timeout))
	if _, err := c.c.Write(b); err != nil {
		t.Fatalf("write %q: %v", b, err)
	}
	return c.reply(t)
}

// reply reads one reply, multi-line aware, and returns its code and last
// line.
func (c *conn) reply(t *testing.T) (int, string) {
	t.Helper()
	c.c.SetDeadline(time.Now().Add(c.env.Timeout))
	first := ""
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading reply: %v (so far %q)", err, line)
		}
		line = strings.TrimRight(line, "\r\n")
		if first == "" {
			first = line
		}
		if len(line) >= 4 && line[3] == ' ' && line[:3] == first[:3] {
			code, err := strconv.Atoi(line[:3])
			if err != nil {
				t.Fatalf("reply %q", line)
			}
			return code, line
		}
	}
}

// accepted returns the remote address of a connection waiting on ln, or
// "" when there is none.
func accepted(ln *net.TCPListener) string {
	_ = ln.SetDeadline(time.Now().Add(20 * time.Millisecond))
	c, err := ln.Accept()
	if err != nil {
		return ""
	}
	defer c.Close()
	return c.RemoteAddr().String()
}
