package peers

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Seen is what a client's transcript says happened on the wire.
type Seen struct {
	// Replies are the reply codes the client read, in order (every line
	// of a multi-line reply counts once, at its final line).
	Replies []int
	// PASV is the address of the last 227 reply, or invalid.
	PASV netip.AddrPort
	// EPSVPort is the port of the last 229 reply, or 0.
	EPSVPort uint16
	// Data are the addresses the client connected its data connections to.
	Data []netip.AddrPort
	// Accepted are the peers of the data connections the client accepted
	// in active mode (lftp and ftplib; curl 7.88 cannot print them).
	Accepted []netip.AddrPort
	// Commands are the verbs the client sent, in order ("PORT", "ABOR").
	Commands []string
	// Results are the reply codes of the ftplib Bounce run by label
	// ("PORT", "EPRT", "PORT22", "LIST-after-PORT"); 0 when the attempt
	// ended without a reply (a timeout, a closed connection).
	Results map[string]int
}

// Sent returns how many times the client sent verb.
func (s Seen) Sent(verb string) int {
	n := 0
	for _, c := range s.Commands {
		if c == verb {
			n++
		}
	}
	return n
}

// Count returns how many replies had one of codes.
func (s Seen) Count(codes ...int) int {
	n := 0
	for _, r := range s.Replies {
		for _, c := range codes {
			if r == c {
				n++
			}
		}
	}
	return n
}

var (
	// replyLine finds a final reply line in each client's trace: curl -v
	// "< 227 ...", lftp debug "<--- 227 ...", ftplib debug
	// "*resp* '227 ...'".
	replyLine = map[Client]*regexp.Regexp{
		Curl:   regexp.MustCompile(`^< (\d{3}) `),
		LFTP:   regexp.MustCompile(`^<--- (\d{3}) `),
		Ftplib: regexp.MustCompile(`^\*resp\* ['"](\d{3})[ -]`),
	}
	// dataLine finds the data connection a client made: curl
	// "Connecting to 127.0.0.10 (127.0.0.10) port 61000", lftp
	// "---- Connecting data socket to (127.0.0.10) port 61000", and the
	// line our ftplib script prints, "data: connecting to 127.0.0.10 port 61000".
	dataLine = map[Client]*regexp.Regexp{
		Curl:   regexp.MustCompile(`Connecting to (\S+) \(\S+\) port (\d+)`),
		LFTP:   regexp.MustCompile(`Connecting data socket to \((\S+)\) port (\d+)`),
		Ftplib: regexp.MustCompile(`^data: connecting to (\S+) port (\d+)`),
	}
	// acceptLine finds a data connection a client accepted: lftp
	// "---- Accepted data connection from (127.0.0.10) port 2099" and our
	// ftplib script's "data: accepted from 127.0.0.10 port 2099".
	acceptLine = map[Client]*regexp.Regexp{
		LFTP:   regexp.MustCompile(`Accepted data connection from \((\S+)\) port (\d+)`),
		Ftplib: regexp.MustCompile(`^data: accepted from (\S+) port (\d+)`),
	}
	// commandLine finds a command the client sent: curl "> PORT ...",
	// lftp "---> PORT ...", ftplib "*cmd* 'PORT ...'".
	commandLine = map[Client]*regexp.Regexp{
		Curl:   regexp.MustCompile(`^> ([A-Z]{3,4})\b`),
		LFTP:   regexp.MustCompile(`^---> ([A-Z]{3,4})\b`),
		Ftplib: regexp.MustCompile(`^\*cmd\* ['"]([A-Z]{3,4})\b`),
	}
	// resultLine is a "result: LABEL CODE" line of the ftplib Bounce run.
	resultLine = regexp.MustCompile(`^result: (\S+) ?(\S*)`)
	// The six numbers of a 227 reply, wherever the server puts them.
	pasvNumbers = regexp.MustCompile(`(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})`)
	// The port of a 229 reply, (|||port|) with any delimiter.
	epsvPort = regexp.MustCompile(`\((.)(.)(.)(\d+)(.)\)`)
)

// ParseTranscript extracts what client saw from its trace.
func ParseTranscript(client Client, text string) Seen {
	var s Seen
	rl, dl := replyLine[client], dataLine[client]
	if rl == nil {
		return s
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := rl.FindStringSubmatch(line); m != nil {
			code, _ := strconv.Atoi(m[1])
			s.Replies = append(s.Replies, code)
			rest := line[len(m[0]):]
			switch code {
			case 227:
				if a, ok := parse227(rest); ok {
					s.PASV = a
				}
			case 229:
				if m := epsvPort.FindStringSubmatch(rest); m != nil {
					if p, err := strconv.ParseUint(m[4], 10, 16); err == nil {
						s.EPSVPort = uint16(p)
					}
				}
			}
			continue
		}
		if m := commandLine[client].FindStringSubmatch(line); m != nil {
			s.Commands = append(s.Commands, m[1])
			continue
		}
		if m := resultLine.FindStringSubmatch(line); m != nil && client == Ftplib {
			if s.Results == nil {
				s.Results = map[string]int{}
			}
			code, _ := strconv.Atoi(m[2])
			s.Results[m[1]] = code
			continue
		}
		if a, ok := addrPort(dl, line); ok {
			s.Data = append(s.Data, a)
		}
		if a, ok := addrPort(acceptLine[client], line); ok {
			s.Accepted = append(s.Accepted, a)
		}
	}
	return s
}

// addrPort returns the address and port that re's first two groups
// match in line.
func addrPort(re *regexp.Regexp, line string) (netip.AddrPort, bool) {
	if re == nil {
		return netip.AddrPort{}, false
	}
	m := re.FindStringSubmatch(line)
	if m == nil {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(m[1])
	p, perr := strconv.ParseUint(m[2], 10, 16)
	if err != nil || perr != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), true
}

// parse227 reads h1,h2,h3,h4,p1,p2 anywhere in the text of a 227 reply.
func parse227(text string) (netip.AddrPort, bool) {
	m := pasvNumbers.FindStringSubmatch(text)
	if m == nil {
		return netip.AddrPort{}, false
	}
	var n [6]int
	for i := range n {
		v, err := strconv.Atoi(m[i+1])
		if err != nil || v > 255 {
			return netip.AddrPort{}, false
		}
		n[i] = v
	}
	a := netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])})
	return netip.AddrPortFrom(a, uint16(n[4]<<8|n[5])), true
}
