package conf

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// System is what `algd check` reads from the host. Tests build one by hand.
type System struct {
	// EphemeralFirst and EphemeralLast are the kernel's ephemeral port
	// range (net.ipv4.ip_local_port_range), which outgoing connections
	// take their source ports from.
	EphemeralFirst, EphemeralLast uint16
	// NoFile is the soft limit on open file descriptors (RLIMIT_NOFILE).
	NoFile uint64
	// NoKernel is why the kernel data path cannot be used here (no
	// CAP_NET_ADMIN, no nftables), "" when it can. cmd/algd sets it from
	// the probe of alg/nat; ReadSystem leaves it "".
	NoKernel string
	// NoForward: IPv4 forwarding is off (net.ipv4.ip_forward), which the
	// kernel data path needs.
	NoForward bool
}

// Fallbacks of ReadSystem: the Linux defaults.
const (
	defaultEphemeralFirst = 32768
	defaultEphemeralLast  = 60999
	defaultNoFile         = 1024
)

// fdSpare is the descriptors algd needs besides sessions: listeners,
// health checks, admin HTTP, logs.
const fdSpare = 64

// Report is what `algd check` prints about a valid configuration.
type Report struct {
	// Listens says, per control listener, which pool and realservers it
	// leads to.
	Listens []string
	// DataPaths says, per listener, which data path it takes and why.
	DataPaths []string
	// Firewall lists, per address, the TCP ports to open.
	Firewall []string
	// Warnings are legal but doubtful settings.
	Warnings []string
}

// Check describes c, which must have passed Validate, against the host
// facts in sys.
func Check(c *Config, sys System) Report {
	var r Report
	fw := newFirewall()
	for i := range c.FTP {
		f := &c.FTP[i]
		for _, ap := range f.ListenAddrs {
			r.Listens = append(r.Listens, fmt.Sprintf("%s (ftp %q) -> %s", ap, f.Name, describePool(c.Pool(f.Pool))))
			fw.add(ap.Addr(), strconv.Itoa(int(ap.Port())))
		}
		for _, ap := range f.TLS.ImplicitAddrs {
			r.Listens = append(r.Listens, fmt.Sprintf("%s (ftp %q, implicit FTPS) -> %s", ap, f.Name, describePool(c.Pool(f.Pool))))
			fw.add(ap.Addr(), strconv.Itoa(int(ap.Port())))
		}
		if f.AdvertiseAddr.IsValid() {
			fw.add(f.AdvertiseAddr, f.Passive.String())
		} else {
			for _, ap := range f.ListenAddrs {
				fw.add(ap.Addr(), f.Passive.String())
				if ap.Addr().IsUnspecified() {
					r.Warnings = append(r.Warnings, fmt.Sprintf(
						"ftp %q listens on wildcard %s without advertise: each passive reply announces the address that client connected to, and the data port is bound on that address per connection; set advertise to the VIP to announce one fixed address",
						f.Name, ap))
				}
			}
		}
		eph := PortRange{First: sys.EphemeralFirst, Last: sys.EphemeralLast}
		if common, ok := f.Passive.Overlap(eph); ok {
			r.Warnings = append(r.Warnings, fmt.Sprintf(
				"ftp %q passive_ports %s overlap the kernel's ephemeral range %s in %s: outgoing connections can take these ports; move the range or reserve it with sysctl net.ipv4.ip_local_reserved_ports=%s",
				f.Name, f.Passive, eph, common, common))
		}
	}
	c.checkRTSP(&r, fw, sys)
	c.checkDataPaths(&r, sys)
	r.Firewall = fw.lines()

	if need := uint64(c.Limits.MaxSessions)*2 + fdSpare; need > sys.NoFile {
		r.Warnings = append(r.Warnings, fmt.Sprintf(
			"limits.max_sessions = %d needs about %d open files (2 per session, more while data flows, plus %d) but the soft limit is %d: raise it (ulimit -n, LimitNOFILE= in the systemd unit)",
			c.Limits.MaxSessions, need, fdSpare, sys.NoFile))
	}
	for _, p := range c.Pools {
		if p.Health.Kind == "none" {
			r.Warnings = append(r.Warnings, fmt.Sprintf(
				"pool %q has health kind \"none\": its realservers are never checked, and a dead one keeps getting sessions", p.Name))
		}
		if h := p.Health; h.Kind == "ftp-login" {
			if fi, err := os.Stat(h.PasswordFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
				r.Warnings = append(r.Warnings, fmt.Sprintf(
					"pool %q: password_file %s is readable by other users (mode %04o): chmod 600 it",
					p.Name, h.PasswordFile, fi.Mode().Perm()))
			}
		}
		if !poolUsed(c, p.Name) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("pool %q is used by no listener", p.Name))
		}
	}
	return r
}

// Write prints the report, one item per line: "listen ...", "firewall:
// open ...", "warning: ...".
func (r Report) Write(w io.Writer) {
	var b strings.Builder
	for _, l := range r.Listens {
		b.WriteString("listen " + l + "\n")
	}
	for _, l := range r.DataPaths {
		b.WriteString("data path: " + l + "\n")
	}
	for _, l := range r.Firewall {
		b.WriteString("firewall: " + l + "\n")
	}
	for _, l := range r.Warnings {
		b.WriteString("warning: " + l + "\n")
	}
	// The report goes to a terminal or a pipe; there is nothing useful
	// to do when that write fails.
	_, _ = io.WriteString(w, b.String())
}

// describePool formats a pool and its realservers for the listen lines.
func describePool(p *Pool) string {
	if p == nil {
		return "no pool"
	}
	members := make([]string, len(p.Realservers))
	for i, rs := range p.Realservers {
		s := rs.AddrPort.String()
		switch w := rs.W(); w {
		case 0:
			s += " (weight 0: drained)"
		case 1:
		default:
			s += fmt.Sprintf(" (weight %d)", w)
		}
		members[i] = s
	}
	return fmt.Sprintf("pool %q %s: %s", p.Name, p.Scheduler, strings.Join(members, ", "))
}

func poolUsed(c *Config, name string) bool {
	for _, f := range c.FTP {
		if slices.Contains(f.PoolNames(), name) {
			return true
		}
	}
	for _, r := range c.RTSP {
		if r.Pool == name {
			return true
		}
	}
	for _, g := range c.Groups {
		if g.Pool == name {
			return true
		}
	}
	return false
}

// firewall gathers the TCP ports to open per address, in first-seen order.
type firewall struct {
	order []netip.Addr
	ports map[netip.Addr][]string
}

func newFirewall() *firewall {
	return &firewall{ports: map[netip.Addr][]string{}}
}

func (f *firewall) add(a netip.Addr, ports string) {
	list, seen := f.ports[a]
	if !seen {
		f.order = append(f.order, a)
	}
	for _, p := range list {
		if p == ports {
			return
		}
	}
	f.ports[a] = append(list, ports)
}

// lines formats one "open tcp ADDR PORTS, ..." line per address; a
// wildcard shows as the prefix of every address of its family.
func (f *firewall) lines() []string {
	var out []string
	for _, a := range f.order {
		host := a.String()
		if a.IsUnspecified() {
			host = netip.PrefixFrom(a, 0).String()
		}
		parts := make([]string, len(f.ports[a]))
		for i, p := range f.ports[a] {
			proto := "tcp"
			if rest, ok := strings.CutPrefix(p, udpMark); ok { // see addUDP
				proto, p = "udp", rest
			}
			parts[i] = proto + " " + host + " " + p
		}
		out = append(out, "open "+strings.Join(parts, ", "))
	}
	return out
}
