package conf

import (
	"crypto/tls"
	"slices"
	"time"
)

// DefaultGreeting is the default text of algd's own 220 on a listener that
// routes by user (FTP.Greeting).
const DefaultGreeting = "FTP gateway ready."

// The defaults, as stated on the fields of the schema.
const (
	defaultScheduler              = "wlc"
	defaultHealthInterval         = 2 * time.Second
	defaultHealthTimeout          = time.Second
	defaultNotifyTimeout          = 10 * time.Second
	defaultRise                   = 2
	defaultFall                   = 3
	defaultMaxSessions            = 5000
	defaultMaxSessionsPerClient   = 20
	defaultControlIdleTimeout     = 5 * time.Minute
	defaultDataConnectTimeout     = 30 * time.Second
	defaultDataIdleTimeout        = 5 * time.Minute
	defaultMaxLineBytes           = 4096
	defaultLogLevel               = "info"
	defaultLogFormat              = "text"
	defaultMaxDataPortsPerClient  = 8
	defaultMaxMediaPairsPerClient = 8
)

// DefaultBackendConnectTimeout is the default of
// Limits.BackendConnectTimeout, for FTP and RTSP alike.
const DefaultBackendConnectTimeout = 5 * time.Second

// SetDefaults replaces every zero value that has a documented default with
// that default. It leaves invalid values (negative numbers, unknown names)
// for Validate to report, and may be called more than once.
func (c *Config) SetDefaults() {
	c.setGroupDefaults()
	c.setRTSPDefaults()
	c.setKernelDefaults()
	for i := range c.FTP {
		f := &c.FTP[i]
		if f.Name == "" && len(f.ListenAddrs) > 0 {
			f.Name = f.ListenAddrs[0].String()
		}
		if f.Active == (ActiveSource{}) {
			f.Active.ControlMinusOne = true
		}
		if f.BackendDataMode == "" {
			f.BackendDataMode = "passive"
		}
		if f.RouteBy == "" {
			f.RouteBy = "connection"
		}
		if f.Greeting == "" {
			f.Greeting = DefaultGreeting
		}
		if f.TLS.Min == 0 {
			f.TLS.Min = tls.VersionTLS12
		}
		if f.TLS.Backend == "" {
			f.TLS.Backend = "plain"
		}
		setDuration(&f.TLS.HandshakeTimeout, 10*time.Second)
	}
	for i := range c.Pools {
		p := &c.Pools[i]
		if p.Scheduler == "" {
			p.Scheduler = defaultScheduler
		}
		h := &p.Health
		if h.Kind == "" {
			h.Kind = "tcp"
			for _, f := range c.FTP {
				if slices.Contains(f.PoolNames(), p.Name) {
					h.Kind = "ftp"
				}
			}
		}
		if h.Interval.Duration == 0 {
			h.Interval.Duration = defaultHealthInterval
		}
		if h.Timeout.Duration == 0 {
			h.Timeout.Duration = defaultHealthTimeout
			if h.Interval.Duration > 0 && h.Interval.Duration <= defaultHealthTimeout {
				h.Timeout.Duration = h.Interval.Duration / 2
			}
		}
		if h.Rise == 0 {
			h.Rise = defaultRise
		}
		if h.Kind == "ftp-login" && h.Probe == "" {
			h.Probe = "login"
		}
		if p.NotifyTimeout.Duration == 0 {
			p.NotifyTimeout.Duration = defaultNotifyTimeout
		}
		if h.Fall == 0 {
			h.Fall = defaultFall
		}
	}
	l := &c.Limits
	setInt(&l.MaxSessions, defaultMaxSessions)
	setInt(&l.MaxSessionsPerClient, defaultMaxSessionsPerClient)
	setInt(&l.MaxLineBytes, defaultMaxLineBytes)
	setInt(&l.MaxReplyBytes, DefaultMaxReplyBytes)
	setInt(&l.MaxDataPortsPerClient, defaultMaxDataPortsPerClient)
	setInt(&l.MaxMediaPairsPerClient, defaultMaxMediaPairsPerClient)
	setDuration(&l.ControlIdleTimeout, defaultControlIdleTimeout)
	setDuration(&l.DataConnectTimeout, defaultDataConnectTimeout)
	setDuration(&l.DataIdleTimeout, defaultDataIdleTimeout)
	setDuration(&l.BackendConnectTimeout, DefaultBackendConnectTimeout)
	if c.Log.Level == "" {
		c.Log.Level = defaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = defaultLogFormat
	}
	c.setAdminDefaults()
}

func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

func setDuration(d *Duration, def time.Duration) {
	if d.Duration == 0 {
		d.Duration = def
	}
}
