package peers

import (
	"fmt"
	"strings"
)

// lftpArgs is lftp's command line for req: plain FTP unless req.TLS asks
// for FTPS (lftp tries AUTH TLS by default, so plain runs forbid it;
// FTPS runs force it, protect data and listings, and do not verify the
// certificate; Implicit opens an ftps:// URL), bound to req.Source, EPSV or PASV by ftp:prefer-epsv, and
// trusting the 227 address (ftp:fix-pasv-address would otherwise replace
// a loopback or private address by the control peer's). Active mode is
// ftp:passive-mode off: lftp listens on the control connection's local
// address and sends PORT over IPv4, EPRT over IPv6 (it never sends EPRT
// over IPv4, see Supports). -d traces the control channel ("<--- 227
// ...") and the data connects ("Connecting data socket to", "Accepted
// data connection from").
//
// Abort runs the download as a background job at 200 kB/s, kills it
// after two seconds (lftp then sends Telnet IP, urgent DM and ABOR, see
// ftp:use-abor and ftp:use-telnet-iac), and downloads the whole file
// again at full speed on the same session.
func lftpArgs(req Request) ([]string, error) {
	epsv, passive := "no", "yes"
	switch req.Mode {
	case EPSV:
		epsv = "yes"
	case PORT, EPRT:
		passive = "no"
	}
	sslAllow := "no"
	if req.TLS != NoTLS {
		sslAllow = "yes"
	}
	cmds := []string{
		"set ftp:ssl-allow " + sslAllow,
		"set ftp:passive-mode " + passive,
		"set ftp:prefer-epsv " + epsv,
		"set ftp:fix-pasv-address no",
		"set ftp:ignore-pasv-address no",
		"set net:max-retries 1",
		"set net:timeout 15",
		"set net:reconnect-interval-base 1",
		"set cmd:fail-exit yes",
		"set xfer:clobber yes",
		"set cache:enable no",
	}
	if req.Source.IsValid() {
		if req.Source.Is4() {
			cmds = append(cmds, "set net:socket-bind-ipv4 "+req.Source.String())
		} else {
			cmds = append(cmds, "set net:socket-bind-ipv6 "+req.Source.String())
		}
	}
	if req.LimitRate > 0 {
		cmds = append(cmds, fmt.Sprintf("set net:limit-rate %d", req.LimitRate))
	}
	if req.TLS != NoTLS {
		cmds = append(cmds,
			"set ftp:ssl-force true",
			"set ftp:ssl-protect-data true",
			"set ftp:ssl-protect-list true",
			"set ssl:verify-certificate no")
	}
	host := req.Server.Addr().String()
	if req.TLS == Implicit {
		host = "ftps://" + host
	}
	cmds = append(cmds, fmt.Sprintf("open -u %s,%s -p %d %s",
		req.User, req.Password, req.Server.Port(), host))
	switch req.Op {
	case Upload:
		cmds = append(cmds, fmt.Sprintf("put %s -o %s", req.Local, req.Remote))
	case Download:
		cmds = append(cmds, fmt.Sprintf("get %s -o %s", req.Remote, req.Local))
	case List:
		cmds = append(cmds, fmt.Sprintf("ls %s > %s", req.Remote, req.Local))
	case Abort:
		cmds = append(cmds,
			"set net:limit-rate 200000",
			fmt.Sprintf("get %s -o %s.part &", req.Remote, req.Local),
			"sleep 2",
			"kill all",
			"set net:limit-rate 0",
			fmt.Sprintf("get %s -o %s", req.Remote, req.Local))
	default:
		return nil, fmt.Errorf("lftp cannot run %s", req.Op)
	}
	cmds = append(cmds, "quit")
	return []string{"lftp", "-d", "-c", strings.Join(cmds, "; ")}, nil
}
