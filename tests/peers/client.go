package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"time"
)

// Client names an FTP client program.
type Client string

// The clients Run knows.
const (
	Curl   Client = "curl"
	LFTP   Client = "lftp"
	Ftplib Client = "ftplib"
)

// Clients lists every client, in a stable order.
func Clients() []Client { return []Client{Curl, LFTP, Ftplib} }

// Mode is the data connection command the client must use.
type Mode string

// The modes: two passive (the client connects), two active (the server,
// or algd, connects to the client).
const (
	// PASV makes the client send PASV and connect to the address in the
	// 227 reply (each client is told to trust it, see the per-client
	// flags), so a wrong rewrite shows.
	PASV Mode = "PASV"
	// EPSV makes the client send EPSV (RFC 2428), even over IPv4.
	EPSV Mode = "EPSV"
	// PORT makes the client listen on its own address and send PORT
	// (RFC 959): IPv4 only.
	PORT Mode = "PORT"
	// EPRT makes the client listen and send EPRT (RFC 2428), even over
	// IPv4 where some clients would send PORT.
	EPRT Mode = "EPRT"
)

// Modes lists every mode, passive first.
func Modes() []Mode { return []Mode{PASV, EPSV, PORT, EPRT} }

// Active reports whether m is an active mode (PORT, EPRT).
func (m Mode) Active() bool { return m == PORT || m == EPRT }

// Supports reports whether client can be made to use mode over the
// address family of server (ipv6). lftp 4.9 never sends EPRT over IPv4;
// PASV and PORT carry IPv4 addresses only, and the harness runs no
// client in them over IPv6.
func Supports(client Client, mode Mode, ipv6 bool) bool {
	if ipv6 {
		return mode == EPSV || mode == EPRT
	}
	return !(client == LFTP && mode == EPRT)
}

// Op is a client operation.
type Op string

// The operations.
const (
	// Upload stores the local file as the remote path (STOR).
	Upload Op = "upload"
	// Download retrieves the remote path into the local file (RETR).
	Download Op = "download"
	// List writes the listing of the remote directory into the local
	// file (LIST).
	List Op = "list"
	// Abort starts downloading the remote path, aborts the transfer
	// with ABOR part way (lftp: Telnet IP, urgent DM, ABOR; ftplib: ABOR
	// with MSG_OOB), then checks that the session still answers and
	// downloads the whole file into the local file on the same session.
	// lftp and ftplib only.
	Abort Op = "abort"
	// Bounce asks for active data connections to a third party (PORT
	// and EPRT naming Request.Bounce, and a PORT to port 22 of the
	// client's own address), then a LIST, and prints each reply code as
	// a "result:" line (see Seen.Results). ftplib only.
	Bounce Op = "bounce"
)

// Ops lists every operation.
func Ops() []Op { return []Op{Upload, Download, List} }

// Request is one client run.
type Request struct {
	Client Client
	Mode   Mode
	Op     Op
	// Server is the control address the client connects to.
	Server netip.AddrPort
	// User and Password log in.
	User, Password string
	// Remote is the path on the server, relative to the login directory
	// (a directory for List).
	Remote string
	// Local is the file to upload, or the file that receives a download
	// or a listing.
	Local string
	// Source is the address the client binds for control and data
	// connections; invalid lets the kernel choose.
	Source netip.Addr
	// Wrap prefixes the client's command line (ip netns exec NAME).
	Wrap []string
	// Dir is a scratch directory for files the client needs (scripts).
	Dir string
	// Timeout bounds the whole run; the command runs under timeout(1).
	// Default 60s.
	Timeout time.Duration
	// Bounce is the third-party address a Bounce run names
	// in its PORT and EPRT.
	Bounce netip.AddrPort
	// AbortAfter is how many bytes an Abort run reads before it aborts
	// (ftplib). Default 1 MiB.
	AbortAfter int64
	// LimitRate, when positive, caps the transfer in bytes per second
	// (curl --limit-rate, lftp net:limit-rate), so that it lasts.
	LimitRate int64
	// TLS is the FTPS flavour: none (plain FTP), Explicit or Implicit.
	// Every FTPS run protects its data connections (PROT P).
	TLS TLSMode
	// CAFile, when set, is the CA the client verifies the server's
	// certificate with (curl --cacert, ftplib's SSL context); empty turns
	// verification off (curl -k). lftp never verifies (its GnuTLS build
	// is not told about IP addresses in certificates).
	CAFile string
}

// TLSMode is how a client uses FTPS (RFC 4217).
type TLSMode string

// The FTPS flavours.
const (
	// NoTLS is plain FTP.
	NoTLS TLSMode = ""
	// Explicit sends AUTH TLS after the greeting (curl --ssl-reqd, lftp
	// ftp:ssl-force, ftplib.FTP_TLS), then PBSZ 0 and PROT P.
	Explicit TLSMode = "explicit"
	// Implicit handshakes first (ftps:// URLs of curl and lftp; ftplib
	// has no implicit mode).
	Implicit TLSMode = "implicit"
)

// Result is what a client run did and saw.
type Result struct {
	// Err is nil when the client exited 0.
	Err error
	// Transcript is the client's combined output: its debug trace of the
	// control channel and its data connections.
	Transcript string
	Seen
}

// Run executes req and parses the transcript. It never fails the test:
// the caller decides what a failure means (a server announcing a wrong
// 227 address must make a trusting client fail).
func Run(ctx context.Context, req Request) Result {
	if req.Timeout == 0 {
		req.Timeout = 60 * time.Second
	}
	var (
		args []string
		err  error
	)
	switch req.Client {
	case Curl:
		args, err = curlArgs(req)
	case LFTP:
		args, err = lftpArgs(req)
	case Ftplib:
		args, err = ftplibArgs(req)
	default:
		err = fmt.Errorf("unknown client %q", req.Client)
	}
	if err != nil {
		return Result{Err: fmt.Errorf("%s: %w", req.Client, err)}
	}
	if req.Op == Download || req.Op == List || req.Op == Abort {
		// A client that receives zero bytes may not create the file.
		_ = os.Remove(req.Local)
	}
	secs := fmt.Sprintf("%d", int(req.Timeout/time.Second)+1)
	argv := append(append([]string(nil), req.Wrap...), "timeout", "-k", "5", secs)
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(ctx, req.Timeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Dir = req.Dir
	runErr := cmd.Run()
	res := Result{Transcript: out.String()}
	res.Seen = ParseTranscript(req.Client, res.Transcript)
	if runErr != nil {
		var ee *exec.ExitError
		if errors.As(runErr, &ee) && ee.ExitCode() == 124 {
			runErr = fmt.Errorf("timed out after %v: %w", req.Timeout, runErr)
		}
		res.Err = fmt.Errorf("%s %s %s: %w", req.Client, req.Mode, req.Op, runErr)
		return res
	}
	if req.Op == Download || req.Op == List || req.Op == Abort {
		if _, err := os.Stat(req.Local); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(req.Local, nil, 0o644); err != nil {
				res.Err = fmt.Errorf("%s: %w", req.Client, err)
			}
		}
	}
	return res
}

// TrustsPASV reports whether client, run by Run in PASV mode, connects to
// the address a 227 reply names when that address is announced. curl
// (--no-ftp-skip-pasv-ip) and our ftplib script always do. lftp, even
// with ftp:fix-pasv-address off, treats every 127.x address except
// 127.0.0.1 as reserved and replaces it by the control peer's address
// (sockaddr_u::is_reserved in lftp 4.9), so on loopback it cannot show a
// wrong 227 address; in the private 10/8 addresses of the netns suite it
// can.
func TrustsPASV(client Client, announced netip.Addr) bool {
	if client != LFTP {
		return true
	}
	a := announced.Unmap()
	if !a.Is4() {
		return true
	}
	b := a.As4()
	reserved := b[0] == 0 || b[0] >= 240 || (b[0] == 127 && a != netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	return !reserved && !a.IsMulticast()
}
