package ftp

import (
	"fmt"
	"strings"
)

// Telnet bytes that clients put in front of ABOR (RFC 959 §4.1.3, RFC 854):
// IAC IP then the Synch, which is IAC DM sent as TCP urgent data. Without
// SO_OOBINLINE the urgent byte is taken out of the stream, so either a lone
// DM or a lone IAC may be left.
const (
	telnetIAC = 0xFF // Interpret As Command
	telnetIP  = 0xF4 // Interrupt Process
	telnetDM  = 0xF2 // Data Mark
)

// maxVerb bounds a verb's length: the longest algd knows is XSHA256.
const maxVerb = 8

// Command is one client command line (RFC 959 §4.1) as algd reads it: the
// one reading behind every decision (policy, rewriting, logging) and the
// only thing forwarded to a realserver, re-serialised by String.
type Command struct {
	// Verb is the command name, ASCII upper-cased: one of the verbs algd
	// knows (knownVerbs), or "" for an empty line.
	Verb string
	// Arg is the rest of the line after the one space that follows Verb,
	// verbatim: it may be empty, hold further spaces or bytes 0x80-0xFE
	// (RFC 2640), never a control byte or 0xFF.
	Arg string
}

// LineError is ParseCommand's error: a line algd cannot read
// unambiguously, which it refuses (500) and never forwards.
type LineError struct {
	// Reason is RefusedTelnet, RefusedControl, RefusedSyntax or
	// RefusedUnknown.
	Reason Refusal
	// Offset is the position of the first offending byte, Byte that byte
	// (for RefusedUnknown and a long verb: 0 and the verb's first byte).
	Offset int
	Byte   byte
	// Head is the start of the line for logs: at most maxVerb bytes of it,
	// ending before the offending byte and the first space, with anything
	// after PASS or ACCT cut off, so that no secret is logged.
	Head string
}

// Error describes the refusal.
func (e *LineError) Error() string {
	switch e.Reason {
	case RefusedUnknown:
		return fmt.Sprintf("ftp: unknown command %q", e.Head)
	case RefusedSyntax:
		return fmt.Sprintf("ftp: malformed command line at byte %d (%#02x)", e.Offset, e.Byte)
	}
	return fmt.Sprintf("ftp: %s byte %#02x at %d in command line", e.Reason, e.Byte, e.Offset)
}

// Reply is the 500-class answer to the refused line.
func (e *LineError) Reply() Reply {
	switch e.Reason {
	case RefusedTelnet:
		return NewReply(500, "Command not understood: ambiguous Telnet bytes in the line.")
	case RefusedControl:
		return NewReply(500, "Command not understood: ambiguous control character in the line.")
	case RefusedUnknown:
		return NewReply(500, "Command not understood.")
	}
	return NewReply(500, "Command not understood: ambiguous command syntax.")
}

// knownVerbs are the commands algd forwards (or answers itself): RFC 959,
// 2228, 2389, 2428, 2640, 3659, 7151, the X variants of RFC 775, and the
// extensions of vsftpd, pure-ftpd, proftpd and ftpserverlib.
var knownVerbs = func() map[string]bool {
	m := make(map[string]bool)
	for _, v := range strings.Fields(`ABOR ACCT ADAT ALLO APPE AUTH AVBL CCC CDUP CLNT COMB CONF CPSV CSID CWD
		DELE DSIZ ENC EPRT EPSV FEAT HASH HELP HOST LANG LIST LPRT LPSV MD5 MDTM MFCT MFF MFMT MIC MKD
		MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PRET PROT PWD QUIT RANG REIN REST RETR RMD RMDA RNFR
		RNTO SITE SIZE SMNT SPSV SSCN STAT STOR STOU STRU SYST THMB TYPE USER XCRC XCUP XCWD XMD5 XMKD XPWD
		XRCP XRMD XRSQ XSEM XSEN XSHA XSHA1 XSHA256 XSHA512`) {
		m[v] = true
	}
	return m
}()

// ParseCommand reads a line as ReadLine returns it (without its line end)
// strictly, so that algd and every ftpd it fronts agree on what the line
// is; a line they might read differently is an error (*LineError).
//
// The grammar: an optional Telnet IP/Synch prefix (any run of IAC, IP and
// DM bytes, which covers IAC IP IAC DM and the lone DM or IAC left when
// the urgent byte was pulled out of the stream) only in front of ABOR; a
// known verb of ASCII letters and digits in any case; then nothing, one
// space, or one space and an argument that is not all spaces. No byte
// 0x00-0x1F, 0x7F or 0xFF anywhere else. An empty line is Command{}.
func ParseCommand(line []byte) (Command, error) {
	rest := line
	for len(rest) > 0 && (rest[0] == telnetIAC || rest[0] == telnetIP || rest[0] == telnetDM) {
		rest = rest[1:]
	}
	prefix := len(line) - len(rest)
	for i := prefix; i < len(line); i++ {
		if b := line[i]; b == telnetIAC || b < 0x20 || b == 0x7F {
			reason := RefusedControl
			if b == telnetIAC {
				reason = RefusedTelnet
			}
			return Command{}, lineError(line, reason, i)
		}
	}
	verb, arg, spaced := rest, []byte(nil), false
	for i, b := range rest {
		if b == ' ' {
			verb, arg, spaced = rest[:i], rest[i+1:], true
			break
		}
	}
	if len(verb) == 0 && !spaced && prefix == 0 {
		return Command{}, nil // an empty line
	}
	if prefix > 0 && upperASCII(verb) != "ABOR" {
		return Command{}, lineError(line, RefusedTelnet, 0)
	}
	for i, b := range verb {
		if !isLetter(b) && (i == 0 || b < '0' || b > '9') {
			return Command{}, lineError(line, RefusedSyntax, prefix+i)
		}
	}
	switch {
	case len(verb) == 0:
		return Command{}, lineError(line, RefusedSyntax, prefix)
	case len(verb) > maxVerb:
		return Command{}, lineError(line, RefusedSyntax, prefix+maxVerb)
	case len(arg) > 0 && strings.Trim(string(arg), " ") == "":
		return Command{}, lineError(line, RefusedSyntax, prefix+len(verb)+1)
	}
	c := Command{Verb: upperASCII(verb), Arg: string(arg)}
	if !knownVerbs[c.Verb] {
		return Command{}, &LineError{Reason: RefusedUnknown, Byte: line[prefix], Head: head(line[prefix:], len(verb))}
	}
	return c, nil
}

// lineError builds the error for the offending byte at off.
func lineError(line []byte, reason Refusal, off int) *LineError {
	return &LineError{Reason: reason, Offset: off, Byte: line[min(off, len(line)-1)], Head: head(line, off)}
}

// head returns the loggable start of line: up to n bytes, at most maxVerb,
// before the first space, with what follows PASS or ACCT cut off.
func head(line []byte, n int) string {
	n = min(n, maxVerb, len(line))
	h := line[:n]
	for i, b := range h {
		if b == ' ' {
			h = h[:i]
			break
		}
	}
	if len(h) > 4 {
		if u := upperASCII(h[:4]); u == "PASS" || u == "ACCT" {
			h = h[:4]
		}
	}
	return string(h)
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// upperASCII upper-cases the ASCII letters of b and leaves every other byte
// as it is (strings.ToUpper would rewrite invalid UTF-8).
func upperASCII(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

// String returns the command in its canonical wire form without the line
// end: "VERB arg", or "VERB" when Arg is empty. This, never the client's
// bytes, is what algd forwards.
func (c Command) String() string {
	if c.Arg == "" {
		return c.Verb
	}
	return c.Verb + " " + c.Arg
}

// LogString is String with the secret of PASS (and ACCT, which servers use
// for a second password) replaced by "****", for logs.
func (c Command) LogString() string {
	if c.Arg != "" && (c.Verb == "PASS" || c.Verb == "ACCT") {
		return c.Verb + " ****"
	}
	return c.String()
}
