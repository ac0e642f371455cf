package peers

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
)

// vsftpd writes vsftpd.conf and returns the command line. The login is
// anonymous (non-anonymous logins need PAM files under /etc) and vsftpd
// runs everything as the launching user, so nothing outside the
// temporary directory is needed: no chroot, no nopriv user, no seccomp.
// An IPv6 Addr uses listen_ipv6 and listen_address6 (vsftpd then answers
// EPSV and EPRT; PASV and PORT need IPv4).
func (s *Server) vsftpd(bin string) ([]string, error) {
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("vsftpd: %w", err)
	}
	s.User, s.Password = "anonymous", "algd@example.org"
	listen := []string{"listen=YES", "listen_ipv6=NO", "listen_address=" + s.Addr.Addr().String()}
	if s.Addr.Addr().Is6() {
		listen = []string{"listen=NO", "listen_ipv6=YES", "listen_address6=" + s.Addr.Addr().String()}
	}
	lines := append(listen,
		fmt.Sprintf("listen_port=%d", s.Addr.Port()),
		"background=NO",
		"run_as_launching_user=YES",
		"seccomp_sandbox=NO",
		// Anonymous sessions run as this user; its home must exist.
		"ftp_username="+u.Username,
		"anonymous_enable=YES",
		"no_anon_password=YES",
		"local_enable=NO",
		"anon_root="+s.Home,
		"write_enable=YES",
		"anon_upload_enable=YES",
		"anon_mkdir_write_enable=YES",
		"anon_other_write_enable=YES",
		"anon_world_readable_only=NO",
		"anon_umask=022",
		"pasv_enable=YES",
		fmt.Sprintf("pasv_min_port=%d", s.PassiveFirst),
		fmt.Sprintf("pasv_max_port=%d", s.PassiveLast),
		// Every algd session comes from one address.
		"max_per_ip=0",
		"max_clients=0",
		"xferlog_enable=YES",
		"vsftpd_log_file="+filepath.Join(s.dir, "xfer.log"),
		"syslog_enable=NO",
		"dual_log_enable=NO",
		"use_localtime=NO",
	)
	if s.Masquerade.IsValid() {
		lines = append(lines, "pasv_address="+s.Masquerade.String(), "pasv_addr_resolve=NO")
	}
	if s.anonPassword != "" {
		// Anonymous asks for a password, and only the listed one passes.
		list := filepath.Join(s.dir, "anon.passwords")
		if err := os.WriteFile(list, []byte(s.anonPassword+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("vsftpd: %w", err)
		}
		s.Password = s.anonPassword
		lines = slices.DeleteFunc(lines, func(l string) bool { return l == "no_anon_password=YES" })
		lines = append(lines, "no_anon_password=NO", "secure_email_list_enable=YES", "email_password_file="+list)
	}
	lines = append(lines, s.vsftpdTLS()...)
	conf := filepath.Join(s.dir, "vsftpd.conf")
	// vsftpd dies silently unless its config file belongs to the running
	// user, which os.WriteFile as that user guarantees.
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("vsftpd: %w", err)
	}
	return []string{bin, conf}, nil
}

// vsftpdTLS returns the settings for explicit FTPS, none without TLS.
// allow_anon_ssl lets the anonymous login use TLS at all; the force_*
// settings stay NO so plain clients still log in. vsftpd 3.0.3's default
// cipher list (DES-CBC3-SHA) is gone from OpenSSL 3, hence ssl_ciphers.
func (s *Server) vsftpdTLS() []string {
	if s.TLS == nil {
		return nil
	}
	reuse := "NO"
	if s.RequireReuse {
		reuse = "YES"
	}
	return []string{
		"ssl_enable=YES",
		"allow_anon_ssl=YES",
		"force_anon_logins_ssl=NO",
		"force_anon_data_ssl=NO",
		"ssl_sslv2=NO",
		"ssl_sslv3=NO",
		"ssl_tlsv1=YES",
		"ssl_ciphers=HIGH",
		"ssl_request_cert=NO",
		"require_ssl_reuse=" + reuse,
		"rsa_cert_file=" + s.TLS.Cert,
		"rsa_private_key_file=" + s.TLS.Key,
	}
}
