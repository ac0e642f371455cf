package demo

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

// errBadLogin is the reason given to a client whose USER/PASS do not match
// (ftpserverlib answers 530 and disconnects).
var errBadLogin = errors.New("bad user name or password")

// errNoTLS makes ftpserverlib refuse AUTH TLS and leave it out of FEAT.
var errNoTLS = errors.New("TLS is not configured")

// driver is the ftpserverlib MainDriver of one Server.
type driver struct {
	settings ftpserver.Settings // copied for every GetSettings call
	banner   string
	user     string
	password string
	users    map[string]string // further logins: user name to password
	tls      *tls.Config
	fs       *fs
	t        *tracker
	clients  atomic.Int64
	broken   atomic.Bool // every login refused (Server.BreakLogins)
}

var (
	_ ftpserver.MainDriver                        = (*driver)(nil)
	_ ftpserver.MainDriverExtensionPassiveWrapper = (*driver)(nil)
)

// GetSettings returns a fresh copy of the settings: ftpserverlib fills in
// its defaults in place.
func (d *driver) GetSettings() (*ftpserver.Settings, error) {
	s := d.settings
	return &s, nil
}

// ClientConnected counts the client and returns the 220 banner.
func (d *driver) ClientConnected(ftpserver.ClientContext) (string, error) {
	d.clients.Add(1)
	return d.banner, nil
}

// ClientDisconnected is called once for every accepted control connection,
// when its handler ends.
func (d *driver) ClientDisconnected(ftpserver.ClientContext) {
	d.clients.Add(-1)
	d.t.leave() // entered by the control listener's Accept
}

// AuthUser accepts exactly the configured user and password, and the
// further Users.
func (d *driver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	want, known := d.password, user == d.user
	if p, ok := d.users[user]; ok && !known {
		want, known = p, true
	}
	userOK := subtle.ConstantTimeEq(boolInt(known), 1)
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(want))
	if userOK&passOK != 1 || d.broken.Load() {
		return nil, errBadLogin
	}
	return d.fs, nil
}

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// GetTLSConfig returns the configured TLS config, or an error without one.
func (d *driver) GetTLSConfig() (*tls.Config, error) {
	if d.tls == nil {
		return nil, errNoTLS
	}
	return d.tls, nil
}

// WrapPassiveListener tracks a passive data listener and the data
// connections it accepts, so that Close cuts transfers in flight.
func (d *driver) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	d.t.prune() // forget the listeners of finished transfers
	tl := &listener{Listener: l, t: d.t}
	if !d.t.add(tl) {
		_ = l.Close()
		return nil, fmt.Errorf("passive listener: %w", errClosed)
	}
	return tl, nil
}
