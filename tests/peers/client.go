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

// Mode is the passive command the client must use.
type Mode string

// The passive modes.
const (
	// PASV makes the client send PASV and connect to the address in the
	// 227 reply (each client is told to trust it, see the per-client
	// flags), so a wrong rewrite shows.
	PASV Mode = "PASV"
	// EPSV makes the client send EPSV (RFC 2428), even over IPv4.
	EPSV Mode = "EPSV"
)

// Modes lists both passive modes.
func Modes() []Mode { return []Mode{PASV, EPSV} }

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
}

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
		args = curlArgs(req)
	case LFTP:
		args = lftpArgs(req)
	case Ftplib:
		args, err = ftplibArgs(req)
	default:
		err = fmt.Errorf("unknown client %q", req.Client)
	}
	if err != nil {
		return Result{Err: fmt.Errorf("%s: %w", req.Client, err)}
	}
	if req.Op == Download || req.Op == List {
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
	if req.Op == Download || req.Op == List {
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
