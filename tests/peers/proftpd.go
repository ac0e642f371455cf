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
	if !s.Addr.Addr().Is4() {
		return nil, fmt.Errorf("%s: the harness runs it on IPv4 only, not %s", s.Kind, s.Addr)
	}
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
	if s.TLS != nil {
		mods, err := filepath.Abs(filepath.Join(CacheDir(), proftpdCrypto))
		if err != nil {
			return nil, fmt.Errorf("proftpd: %w", err)
		}
		if _, err := os.Stat(filepath.Join(mods, "mod_tls.so")); err != nil {
			return nil, fmt.Errorf("proftpd: mod_tls is missing (%v): run tests/peers/fetch.sh", err)
		}
		conf += proftpdTLS(mods, s.TLS, filepath.Join(s.dir, "tls.log"), s.RequireReuse)
	}
	p := filepath.Join(s.dir, "proftpd.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("proftpd: %w", err)
	}
	return []string{bin, "-n", "-c", p}, nil
}

// proftpdCrypto is where proftpd-mod-crypto's modules are unpacked.
var proftpdCrypto = filepath.Join("proftpd-mod-crypto", "usr", "lib", "proftpd")

// proftpdTLS is the mod_tls part of proftpd.conf: explicit FTPS, optional
// (TLSRequired off), no client certificates. mod_tls requires data
// connections to resume the control session unless TLSOptions says
// NoSessionReuseRequired.
func proftpdTLS(modulePath string, f *TLSFiles, logFile string, reuse bool) string {
	c := fmt.Sprintf(`ModulePath %s
LoadModule mod_tls.c
<IfModule mod_tls.c>
  TLSEngine on
  TLSLog %s
  TLSProtocol TLSv1.2 TLSv1.3
  TLSRSACertificateFile %s
  TLSRSACertificateKeyFile %s
  TLSVerifyClient off
  TLSRequired off
  TLSRenegotiate none
`, modulePath, logFile, f.Cert, f.Key)
	if !reuse {
		c += "  TLSOptions NoSessionReuseRequired\n"
	}
	return c + "</IfModule>\n"
}
