package peers

import "fmt"

// curlArgs is curl's command line for req. PASV mode uses
// --disable-epsv so curl sends PASV, and --no-ftp-skip-pasv-ip so it
// really connects to the 227 address (by default it reuses the control
// address and a wrong rewrite goes unnoticed). EPSV is curl's default.
// Active modes use -P with the source address ("-": the control
// connection's local address), and --disable-eprt for PORT; curl 7.88
// cannot print where an accepted data connection came from (its
// inet_ntop of the peer fails, "sa_addr inet_ntop() failed"), so the
// suites learn that from algd's log; its FTPS active mode fails the same
// way, so Run refuses it. FTPS: --ssl-reqd (explicit AUTH TLS, then PBSZ
// and PROT P) or an ftps:// URL (implicit), verifying with --cacert or
// not at all (-k). -v traces the control channel (also under TLS) and the
// data connects.
func curlArgs(req Request) ([]string, error) {
	args := []string{"curl", "-sS", "-v", "--connect-timeout", "15",
		"-u", req.User + ":" + req.Password}
	if req.Source.IsValid() {
		args = append(args, "--interface", req.Source.String())
	}
	switch req.Mode {
	case PASV:
		args = append(args, "--ftp-pasv", "--disable-epsv", "--no-ftp-skip-pasv-ip")
	case EPSV:
		args = append(args, "--ftp-pasv")
	case PORT, EPRT:
		at := "-"
		if req.Source.IsValid() {
			at = req.Source.String()
		}
		args = append(args, "-P", at)
		if req.Mode == PORT {
			args = append(args, "--disable-eprt")
		}
	}
	if req.LimitRate > 0 {
		args = append(args, "--limit-rate", fmt.Sprint(req.LimitRate))
	}
	scheme := "ftp"
	switch req.TLS {
	case Explicit:
		args = append(args, "--ssl-reqd")
	case Implicit:
		scheme = "ftps"
	}
	if req.TLS != NoTLS {
		if req.Mode.Active() {
			return nil, fmt.Errorf("curl 7.88 cannot run FTPS in active mode (sa_addr inet_ntop() failed)")
		}
		if req.CAFile != "" {
			args = append(args, "--cacert", req.CAFile)
		} else {
			args = append(args, "-k")
		}
	}
	url := fmt.Sprintf("%s://%s/%s", scheme, req.Server, req.Remote)
	switch req.Op {
	case Upload:
		args = append(args, "-T", req.Local, url)
	case Download:
		args = append(args, "-o", req.Local, url)
	case List:
		if len(url) == 0 || url[len(url)-1] != '/' {
			url += "/"
		}
		args = append(args, "-o", req.Local, url)
	default:
		return nil, fmt.Errorf("curl cannot run %s", req.Op)
	}
	return args, nil
}
