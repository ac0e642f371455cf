package peers

import "fmt"

// curlArgs is curl's command line for req. PASV mode uses
// --disable-epsv so curl sends PASV, and --no-ftp-skip-pasv-ip so it
// really connects to the 227 address (by default it reuses the control
// address and a wrong rewrite goes unnoticed). EPSV is curl's default.
// -v traces the control channel and the data connects.
func curlArgs(req Request) []string {
	args := []string{"curl", "-sS", "-v", "--connect-timeout", "15",
		"-u", req.User + ":" + req.Password, "--ftp-pasv"}
	if req.Source.IsValid() {
		args = append(args, "--interface", req.Source.String())
	}
	if req.Mode == PASV {
		args = append(args, "--disable-epsv", "--no-ftp-skip-pasv-ip")
	}
	url := fmt.Sprintf("ftp://%s/%s", req.Server, req.Remote)
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
	}
	return args
}
