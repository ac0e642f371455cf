package peers

import (
	"fmt"
	"os"
	"path/filepath"
)

// proFTPd writes proftpd.conf with a virtual user from an AuthUserFile
// (mod_auth_file is compiled in; PAM is off) and returns the command line:
// -n stays in the foreground, -c names the config.
func (s *Server) proFTPd(bin string) ([]string, error) {
	passwd := filepath.Join(s.dir, "ftpd.passwd")
	group := filepath.Join(s.dir, "ftpd.group")
	// mod_auth_file refuses world-readable files.
	userLine := fmt.Sprintf("%s:%s:%d:%d::%s:/bin/sh\n", s.User, cryptAlgd, nobodyID, nobodyID, s.Home)
	if err := os.WriteFile(passwd, []byte(userLine), 0o600); err != nil {
		return nil, fmt.Errorf("proftpd: %w", err)
	}
	if err := os.WriteFile(group, []byte(fmt.Sprintf("nogroup:x:%d:\n", nobodyID)), 0o600); err != nil {
		return nil, fmt.Errorf("proftpd: %w", err)
	}
	conf := fmt.Sprintf(`ServerType standalone
ServerName "algd interop"
DefaultServer on
Port %d
DefaultAddress %s
SocketBindTight on
UseIPv6 off
PidFile %s
ScoreboardFile %s
DelayEngine off
WtmpLog off
SystemLog %s
TransferLog %s
AuthPAM off
AuthOrder mod_auth_file.c
AuthUserFile %s
AuthGroupFile %s
RequireValidShell off
UseReverseDNS off
PassivePorts %d %d
MaxInstances 1000
AllowOverwrite on
Umask 022
<Limit ALL>
  AllowAll
</Limit>
`, s.Addr.Port(), s.Addr.Addr(),
		filepath.Join(s.dir, "proftpd.pid"), filepath.Join(s.dir, "proftpd.scoreboard"),
		filepath.Join(s.dir, "xfer.log"), filepath.Join(s.dir, "xfer.log"),
		passwd, group, s.PassiveFirst, s.PassiveLast)
	if s.Masquerade.IsValid() {
		conf += "MasqueradeAddress " + s.Masquerade.String() + "\n"
	}
	p := filepath.Join(s.dir, "proftpd.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("proftpd: %w", err)
	}
	return []string{bin, "-n", "-c", p}, nil
}
