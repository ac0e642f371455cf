package peers

import (
	"fmt"
	"os"
)

// ftplibScript is the python client. ftplib sends EPSV and EPRT only over
// IPv6 and ignores the 227 address unless trust_server_pasv_ipv4_address
// is set, so makepasv and makeport are overridden to send exactly the
// requested command and to use the address the reply names; makeport
// listens on the control connection's local address. It prints "data:
// connecting to ADDR port N" for each passive data connection and "data:
// accepted from ADDR port N" for each active one; set_debuglevel(1)
// traces the commands and replies.
//
// abort reads part of a RETR, calls ftp.abort() (ABOR sent with MSG_OOB),
// reads the second reply when the first is the aborted transfer's 426,
// then sends NOOP and downloads the whole file on the same session.
// bounce sends PORT and EPRT naming a third party and a PORT to port 22
// of the client's own address; it prints "result: LABEL CODE" for each,
// and, for any the server accepts, for the LIST that would use it.
//
// With tls set ("explicit") it is ftplib.FTP_TLS: AUTH TLS before USER,
// then PBSZ 0 and PROT P, every data connection a new TLS session (ftplib
// never resumes the control session). cafile, when set, is the CA it
// verifies the server with; otherwise it does not verify.
const ftplibScript = `import ftplib
import socket
import ssl
import sys

(mode, op, host, port, user, password, remote, local, source,
 bounce_host, bounce_port, abort_after, tls, cafile) = sys.argv[1:]


class Client(ftplib.FTP_TLS if tls else ftplib.FTP):
    trust_server_pasv_ipv4_address = True

    def makepasv(self):
        if mode == "EPSV":
            h, p = ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        else:
            h, p = ftplib.parse227(self.sendcmd("PASV"))
        print("data: connecting to %s port %d" % (h, p), flush=True)
        return h, p

    def makeport(self):
        h = self.sock.getsockname()[0]
        sock = socket.create_server((h, 0), family=self.af, backlog=1)
        p = sock.getsockname()[1]
        if mode == "EPRT":
            self.sendeprt(h, p)
        else:
            self.sendport(h, p)
        sock.settimeout(self.timeout)
        return sock

    def ntransfercmd(self, cmd, rest=None):
        conn, size = super().ntransfercmd(cmd, rest)
        if not self.passiveserver:
            h, p = conn.getpeername()[:2]
            print("data: accepted from %s port %d" % (h, p), flush=True)
        return conn, size


def code(fn):
    try:
        return fn()
    except ftplib.all_errors as e:
        return str(e)


src = (source, 0) if source else None
if tls:
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl._create_unverified_context()
    ftp = Client(timeout=30, context=ctx)
else:
    ftp = Client(timeout=30)
ftp.set_debuglevel(1)
ftp.connect(host, int(port), source_address=src)
ftp.login(user, password)  # FTP_TLS sends AUTH TLS first
if tls:
    ftp.prot_p()
ftp.set_pasv(mode in ("PASV", "EPSV"))
if op == "upload":
    with open(local, "rb") as f:
        ftp.storbinary("STOR " + remote, f)
elif op == "download":
    with open(local, "wb") as f:
        ftp.retrbinary("RETR " + remote, f.write)
elif op == "list":
    with open(local, "w") as f:
        ftp.retrlines("LIST " + remote, lambda line: f.write(line + "\n"))
elif op == "abort":
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR " + remote)
    got = 0
    while got < int(abort_after):
        b = conn.recv(65536)
        if not b:
            break
        got += len(b)
    print("abort: read %d bytes, sending ABOR with MSG_OOB" % got, flush=True)
    print("*cmd* 'ABOR'", flush=True)
    ftp.sock.settimeout(10)
    try:
        resp = ftp.abort()
    except ftplib.error_proto as e:
        resp = str(e)
    print("*resp* %r" % resp, flush=True)
    if resp[:3] == "426":
        resp = ftp.getmultiline()
        print("*resp* %r" % resp, flush=True)
    conn.close()
    ftp.sock.settimeout(30)
    ftp.voidcmd("NOOP")
    with open(local, "wb") as f:
        ftp.retrbinary("RETR " + remote, f.write)
elif op == "bounce":
    own = ftp.sock.getsockname()[0]
    attempts = [
        ("PORT", lambda: ftp.sendport(bounce_host, int(bounce_port))),
        ("EPRT", lambda: ftp.sendeprt(bounce_host, int(bounce_port))),
        ("PORT22", lambda: ftp.sendcmd("PORT " + own.replace(".", ",") + ",0,22")),
    ]
    for label, fn in attempts:
        resp = code(fn)
        print("result: %s %s" % (label, resp[:3]), flush=True)
        if resp[:1] == "2":
            resp = code(lambda: ftp.sendcmd("LIST"))
            print("result: LIST-after-%s %s" % (label, resp[:3]), flush=True)
            if resp[:1] == "1":
                code(ftp.getmultiline)
ftp.quit()
`

// ftplibArgs writes the script into req.Dir and returns python3's command
// line for req.
func ftplibArgs(req Request) ([]string, error) {
	if req.Dir == "" {
		return nil, fmt.Errorf("ftplib needs Request.Dir for its script")
	}
	// One file per run: runs may share Dir concurrently.
	f, err := os.CreateTemp(req.Dir, "ftplib-*.py")
	if err != nil {
		return nil, fmt.Errorf("ftplib: %w", err)
	}
	script := f.Name()
	_, err = f.WriteString(ftplibScript)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("ftplib: %w", err)
	}
	src := ""
	if req.Source.IsValid() {
		src = req.Source.String()
	}
	bounceHost, bouncePort := "", "0"
	if req.Bounce.IsValid() {
		bounceHost, bouncePort = req.Bounce.Addr().String(), fmt.Sprint(req.Bounce.Port())
	}
	var tls string
	switch req.TLS {
	case NoTLS:
	case Explicit:
		tls = string(Explicit)
	default:
		return nil, fmt.Errorf("ftplib has no %s FTPS", req.TLS)
	}
	after := req.AbortAfter
	if after == 0 {
		after = 1 << 20
	}
	return []string{"python3", "-u", script, string(req.Mode), string(req.Op),
		req.Server.Addr().String(), fmt.Sprint(req.Server.Port()),
		req.User, req.Password, req.Remote, req.Local, src,
		bounceHost, bouncePort, fmt.Sprint(after), tls, req.CAFile}, nil
}
