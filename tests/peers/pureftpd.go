package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// nobodyID is the uid and gid of nobody/nogroup on Debian. pure-ftpd
// refuses virtual users with uid 0, so its and proftpd's users map to it.
const nobodyID = 65534

// cryptAlgd is the SHA-256 crypt(3) hash of the password "algd" (salt
// "abcdefgh"), as `openssl passwd -5 -salt abcdefgh algd` prints it.
const cryptAlgd = "$5$abcdefgh$Y4am1nVjDWpnrogSEoasQLAiIvH1KwkYmljVu1EL7D/"

// pureFTPd writes a PureDB with one virtual user and returns the command
// line. Flags: -S address,port; -l puredb:FILE virtual users; -E no
// anonymous; -A chroot everyone; -H no reverse DNS; -p the passive range;
// -P the forced 227 address; -C/-c client caps (pure-ftpd caps clients at
// half its passive range anyway).
func (s *Server) pureFTPd(bin string) ([]string, error) {
	if !s.Addr.Addr().Is4() {
		return nil, fmt.Errorf("%s: the harness runs it on IPv4 only, not %s", s.Kind, s.Addr)
	}
	pw, err := cached(purePW)
	if err != nil {
		return nil, err
	}
	passwd := filepath.Join(s.dir, "pureftpd.passwd")
	pdb := filepath.Join(s.dir, "pureftpd.pdb")
	// The passwd line format of pure-pw(8): user:hash:uid:gid:gecos:home/./
	// followed by empty quota and limit fields; "/./" marks the chroot.
	line := fmt.Sprintf("%s:%s:%d:%d::%s/./::::::::::::\n", s.User, cryptAlgd, nobodyID, nobodyID, s.Home)
	if err := os.WriteFile(passwd, []byte(line), 0o600); err != nil {
		return nil, fmt.Errorf("pure-ftpd: %w", err)
	}
	if out, err := exec.Command(pw, "mkdb", pdb, "-f", passwd).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pure-ftpd: pure-pw mkdb: %w: %s", err, out)
	}
	clients := (int(s.PassiveLast) - int(s.PassiveFirst) + 1) / 2
	args := []string{bin,
		"-S", fmt.Sprintf("%s,%d", s.Addr.Addr(), s.Addr.Port()),
		"-l", "puredb:" + pdb,
		"-E", "-A", "-H",
		"-p", fmt.Sprintf("%d:%d", s.PassiveFirst, s.PassiveLast),
		"-C", fmt.Sprint(clients),
		"-c", fmt.Sprint(clients),
	}
	if s.Masquerade.IsValid() {
		args = append(args, "-P", s.Masquerade.String())
	}
	if s.TLS != nil {
		if s.RequireReuse {
			return nil, fmt.Errorf("pure-ftpd has no setting that requires TLS session reuse")
		}
		// -Y 1: TLS optional; -2: the key and certificate file.
		args = append(args, "-Y", "1", "-2", s.TLS.Combined)
	}
	return args, nil
}
