package peers

import (
	"fmt"
	"os"
)

// ftplibScript is the python client. ftplib sends EPSV only over IPv6 and
// ignores the 227 address unless trust_server_pasv_ipv4_address is set, so
// makepasv is overridden to send exactly the requested command and to use
// the address the reply names. It prints "data: connecting to ADDR port
// N" for each data connection; set_debuglevel(1) traces the replies.
const ftplibScript = `import ftplib
import sys

mode, op, host, port, user, password, remote, local, source = sys.argv[1:]


class Client(ftplib.FTP):
    trust_server_pasv_ipv4_address = True

    def makepasv(self):
        if mode == "EPSV":
            h, p = ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        else:
            h, p = ftplib.parse227(self.sendcmd("PASV"))
        print("data: connecting to %s port %d" % (h, p), flush=True)
        return h, p


src = (source, 0) if source else None
ftp = Client(timeout=30)
ftp.set_debuglevel(1)
ftp.connect(host, int(port), source_address=src)
ftp.login(user, password)
if op == "upload":
    with open(local, "rb") as f:
        ftp.storbinary("STOR " + remote, f)
elif op == "download":
    with open(local, "wb") as f:
        ftp.retrbinary("RETR " + remote, f.write)
else:
    with open(local, "w") as f:
        ftp.retrlines("LIST " + remote, lambda line: f.write(line + "\n"))
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
	return []string{"python3", "-u", script, string(req.Mode), string(req.Op),
		req.Server.Addr().String(), fmt.Sprint(req.Server.Port()),
		req.User, req.Password, req.Remote, req.Local, src}, nil
}
