package ftp

// Telnet bytes that clients put in front of ABOR (RFC 959 §4.1.3, RFC 854):
// IAC IP then the Synch, which is IAC DM sent as TCP urgent data. Without
// SO_OOBINLINE the urgent byte is taken out of the stream, so either a lone
// DM or a lone IAC may be left.
const (
	telnetIAC = 0xFF // Interpret As Command
	telnetIP  = 0xF4 // Interrupt Process
	telnetDM  = 0xF2 // Data Mark
)

// Command is one client command line (RFC 959 §4.1).
type Command struct {
	// Verb is the command name, ASCII upper-cased, with the Telnet IP, DM
	// and Synch bytes stripped from its front: any leading run of IAC (FF),
	// IP (F4) and DM (F2), which covers IAC IP, IAC DM and the lone DM or
	// IAC left when the urgent byte was taken out of the stream. It is ""
	// for an empty line.
	Verb string
	// Arg is the rest of the line after the one space that follows Verb,
	// verbatim: it may be empty, hold further spaces or non-UTF-8 bytes
	// (RFC 2640).
	Arg string
}

// ParseCommand splits a line as ReadLine returns it (without its line end)
// into a Command. It never fails: what the verb means is the session's
// business.
func ParseCommand(line []byte) Command {
	for len(line) > 0 {
		b := line[0]
		if b != telnetIAC && b != telnetIP && b != telnetDM {
			break
		}
		line = line[1:]
	}
	verb, arg := line, []byte(nil)
	for i, b := range line {
		if b == ' ' {
			verb, arg = line[:i], line[i+1:]
			break
		}
	}
	return Command{Verb: upperASCII(verb), Arg: string(arg)}
}

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

// String returns the command in its wire form without the line end:
// "VERB arg", or "VERB" when Arg is empty.
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
