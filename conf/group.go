package conf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Group is one [[group]]: a set of ports of one VIP that algd does not
// terminate but hands to kernel IPVS as one fwmark service, so that a
// client's connections to any of them stick to one realserver.
type Group struct {
	// Name identifies the group in logs, `algd ipvs plan` and `algd ipvs
	// status`. Required, unique.
	Name string `toml:"name"`
	// VIPAddr is the virtual IP address the group's ports belong to: an
	// IP literal without port, not a wildcard. Required.
	VIPAddr VIP `toml:"vip"`
	// PortSet are "proto/port" or "proto/first-last" with proto tcp or
	// udp ("tcp/554", "udp/6970-7170"), in file order. At least one. A
	// port of the VIP belongs to one owner: a group, or an algd listener
	// or port range.
	PortSet []GroupPort `toml:"ports"`
	// FWMark is the netfilter mark of the group's packets and the key of
	// its IPVS service. It must lie in [ipvs] fwmark_range. Default 0:
	// the lowest mark of the range no other group takes, in file order.
	FWMark int `toml:"fwmark"`
	// Pool names the [[pool]] whose realservers' addresses are the
	// destinations; their ports are not used (destination port 0 keeps the
	// client's port). Required.
	Pool string `toml:"pool"`
	// Scheduler is any IPVS scheduler: rr wrr lc wlc lblc lblcr dh sh sed
	// nq mh fo ovf. Default "wlc". sh is set with the sh-fallback flag and
	// hashes like algd's own sh.
	Scheduler string `toml:"scheduler"`
	// Persistence is the IPVS persistence timeout, whole seconds; "0s"
	// (the default) is off. Timeout gives it in seconds.
	Persistence Duration `toml:"persistence"`
	// Forward is the IPVS forwarding method: masq, dr or tunnel. Default
	// "masq".
	Forward string `toml:"forward"`
	// OnePacket schedules every UDP datagram on its own (ipvsadm --ops),
	// for request/response services such as RADIUS. Default false.
	OnePacket bool `toml:"one_packet"`
	// OnDown is what happens to a realserver that health takes down:
	// "remove" deletes the destination, "drain" sets its weight to 0
	// (with sh, drain keeps every other client's bucket; the sh-fallback
	// flag moves the drained realserver's clients). Default "remove".
	OnDown string `toml:"on_down"`
	// Health checks the group's realservers on another port than the
	// pool's, or not at all. Interval, timeout, rise and fall are the
	// pool's.
	Health GroupHealth `toml:"health"`

	// Mark is the fwmark in use: FWMark, or the one Validate allocated.
	Mark uint32 `toml:"-"`
}

// Timeout is Persistence in whole seconds, 0 when off, as IPVS counts it.
// Validate refuses a persistence that is not whole seconds or does not fit.
func (g *Group) Timeout() uint32 { return uint32(g.Persistence.Duration / time.Second) }

// GroupHealth is how a group's realservers are checked.
type GroupHealth struct {
	// Kind is "tcp" (connect to Port) or "none" (always up). Default
	// "tcp".
	Kind string `toml:"kind"`
	// Port is the TCP port connected to on each realserver. Default: the
	// group's first TCP port; a group without TCP ports must name one or
	// use kind "none".
	Port int `toml:"port"`
}

// GroupPort is one "proto/ports" entry of a group: "tcp/554" or
// "udp/6970-7170".
type GroupPort struct {
	// Proto is "tcp" or "udp".
	Proto string
	// Ports are the destination ports, inclusive.
	Ports PortRange
}

// String formats the entry as written in the file ("udp/6970-7170").
func (g GroupPort) String() string {
	if g.Ports.First == g.Ports.Last {
		return g.Proto + "/" + strconv.Itoa(int(g.Ports.First))
	}
	return g.Proto + "/" + g.Ports.String()
}

// MarshalText formats the entry as written in the file.
func (g GroupPort) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText parses "tcp/554" or "udp/6970-7170". An inverted range or
// port 0 is left for Validate to refuse.
func (g *GroupPort) UnmarshalText(b []byte) error {
	s := string(b)
	*g = GroupPort{}
	proto, ports, ok := strings.Cut(s, "/")
	if !ok || (proto != "tcp" && proto != "udp") {
		return fmt.Errorf("%q: want \"tcp/PORT\", \"udp/PORT\" or a range such as \"udp/6970-7170\"", s)
	}
	if !strings.Contains(ports, "-") {
		n, err := strconv.ParseUint(ports, 10, 16)
		if err != nil {
			return fmt.Errorf("%q: %q is not a port 1-65535", s, ports)
		}
		*g = GroupPort{Proto: proto, Ports: PortRange{uint16(n), uint16(n)}}
		return nil
	}
	var r PortRange
	if err := r.UnmarshalText([]byte(ports)); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	*g = GroupPort{Proto: proto, Ports: r}
	return nil
}

// IPVS configures how algd programs kernel IPVS and nftables for the
// [[group]]s.
type IPVS struct {
	// Marks is the range of fwmarks algd owns, "first-last" in decimal or
	// 0x hex: it creates, changes and deletes IPVS fwmark services in it
	// only. Default "10000-10999".
	Marks MarkRange `toml:"fwmark_range"`
	// NFTTable is the name of the nftables table (family inet) that algd
	// owns and replaces as a whole. Default "algd".
	NFTTable string `toml:"nft_table"`
	// ReconcileInterval is how often the kernel is read back and outside
	// edits repaired, besides start, reload and health changes. Default
	// 30s.
	ReconcileInterval Duration `toml:"reconcile_interval"`
	// CleanupOnExit deletes algd's services and table when algd stops.
	// Default false: the kernel keeps forwarding while algd restarts.
	CleanupOnExit bool `toml:"cleanup_on_exit"`
}

// MarkRange is an inclusive range of fwmarks, written "first-last", each
// decimal or 0x hex. The zero MarkRange means unset.
type MarkRange struct {
	First, Last uint32
}

// MarshalText formats the range as "first-last", in decimal, and the zero
// range (unset) as "".
func (r MarkRange) MarshalText() ([]byte, error) {
	if r == (MarkRange{}) {
		return nil, nil
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses "first-last", each decimal or 0x hex, 1 to
// 0xffffffff; "" is the zero range. Mark 0 is refused here, since the zero
// range means unset; an inverted range is left for Validate to refuse.
func (r *MarkRange) UnmarshalText(b []byte) error {
	f, l, err := parseRange(string(b), 0, 32,
		`want "first-last" such as "10000-10999" or "0x100-0x1ff"`, "is not a range of 32-bit marks")
	*r = MarkRange{First: uint32(f), Last: uint32(l)}
	if err == nil && len(b) > 0 && f == 0 {
		*r = MarkRange{}
		return fmt.Errorf("%q contains mark 0, which means \"no mark\"", b)
	}
	return err
}

// check says what is wrong with a range: mark 0, or inverted; "" when
// nothing is.
func (r MarkRange) check() string {
	switch {
	case r.First == 0:
		return fmt.Sprintf("%q contains mark 0, which means \"no mark\"", r)
	case r.First > r.Last:
		return fmt.Sprintf("%q is inverted", r)
	}
	return ""
}

// Contains reports whether m lies in the range.
func (r MarkRange) Contains(m uint32) bool { return r.First <= m && m <= r.Last }

// String formats the range as "first-last".
func (r MarkRange) String() string {
	return strconv.FormatUint(uint64(r.First), 10) + "-" + strconv.FormatUint(uint64(r.Last), 10)
}

// Group returns the group called name, or nil. The pointer is into
// c.Groups.
func (c *Config) Group(name string) *Group {
	for i := range c.Groups {
		if c.Groups[i].Name == name {
			return &c.Groups[i]
		}
	}
	return nil
}

// Defaults of [[group]] and [ipvs].
const (
	defaultFirstMark         = 10000
	defaultLastMark          = 10999
	defaultNFTTable          = "algd"
	defaultReconcileInterval = 30 * time.Second
	defaultGroupScheduler    = "wlc"
)

// IPVSSchedulers are the scheduler names a [[group]] accepts: the
// schedulers of Linux IPVS.
var IPVSSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf"}

var (
	forwards     = []string{"masq", "dr", "tunnel"}
	onDowns      = []string{"remove", "drain"}
	groupHealths = []string{"tcp", "none"}
)

// setGroupDefaults fills the defaults of [[group]] and [ipvs].
func (c *Config) setGroupDefaults() {
	if c.IPVS.Marks == (MarkRange{}) {
		c.IPVS.Marks = MarkRange{First: defaultFirstMark, Last: defaultLastMark}
	}
	if c.IPVS.NFTTable == "" {
		c.IPVS.NFTTable = defaultNFTTable
	}
	setDuration(&c.IPVS.ReconcileInterval, defaultReconcileInterval)
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.Scheduler == "" {
			g.Scheduler = defaultGroupScheduler
		}
		if g.Forward == "" {
			g.Forward = "masq"
		}
		if g.OnDown == "" {
			g.OnDown = "remove"
		}
		if g.Health.Kind == "" {
			g.Health.Kind = "tcp"
		}
	}
}

// validateGroups checks [ipvs] and every [[group]], allocates missing
// fwmarks and refuses a VIP port claimed twice.
func (c *Config) validateGroups(p *problems) {
	x := &c.IPVS
	marksOK := true
	if msg := x.Marks.check(); msg != "" {
		p.add("ipvs.fwmark_range", "%s", msg)
		marksOK = false
	}
	if !validNFTName(x.NFTTable) {
		p.add("ipvs.nft_table", "%q is not a table name: want letters, digits and _ (at most 64), starting with a letter", x.NFTTable)
	}
	if x.ReconcileInterval.Duration < time.Second {
		p.add("ipvs.reconcile_interval", "%q is below 1s", x.ReconcileInterval.String())
	}

	names := map[string]int{}
	marks := map[uint32]int{}
	for i := range c.Groups {
		g := &c.Groups[i]
		at := fmt.Sprintf("group[%d]", i)
		switch j, dup := names[g.Name]; {
		case g.Name == "":
			p.add(at+".name", "missing: every group needs a name")
		case dup:
			p.add(at+".name", "duplicate group name %q, also group[%d]", g.Name, j)
		default:
			names[g.Name] = i
		}
		validateVIP(p, &g.VIPAddr, at+".vip")
		if len(g.PortSet) == 0 {
			p.add(at+".ports", "missing: want entries such as \"tcp/554\" or \"udp/6970-7170\"")
		}
		for j, gp := range g.PortSet {
			if msg := gp.check(); msg != "" {
				p.add(fmt.Sprintf("%s.ports[%d]", at, j), "%s", msg)
			}
		}
		g.Mark = 0
		switch {
		case g.FWMark < 0 || int64(g.FWMark) > 0xffffffff:
			p.add(at+".fwmark", "%d is not a 32-bit mark", g.FWMark)
		case g.FWMark > 0 && marksOK && !x.Marks.Contains(uint32(g.FWMark)):
			p.add(at+".fwmark", "%d lies outside ipvs.fwmark_range %s: algd only touches marks it owns", g.FWMark, x.Marks)
		case g.FWMark > 0:
			if j, dup := marks[uint32(g.FWMark)]; dup {
				p.add(at+".fwmark", "fwmark %d is also group[%d]'s", g.FWMark, j)
			} else {
				marks[uint32(g.FWMark)] = i
				g.Mark = uint32(g.FWMark)
			}
		}
		c.validateGroupPool(p, g, at)
		if !slices.Contains(IPVSSchedulers, g.Scheduler) {
			p.add(at+".scheduler", "unknown IPVS scheduler %q: want one of %q", g.Scheduler, IPVSSchedulers)
		}
		switch d := g.Persistence.Duration; {
		case d < 0:
			p.add(at+".persistence", "negative duration %q", g.Persistence.String())
		case d%time.Second != 0:
			p.add(at+".persistence", "%q is not whole seconds: IPVS counts persistence in seconds", g.Persistence.String())
		case d/time.Second > 0xffffffff:
			p.add(at+".persistence", "%q is too long", g.Persistence.String())
		}
		if !slices.Contains(forwards, g.Forward) {
			p.add(at+".forward", "unknown forwarding method %q: want one of %q", g.Forward, forwards)
		}
		if !slices.Contains(onDowns, g.OnDown) {
			p.add(at+".on_down", "unknown %q: want one of %q", g.OnDown, onDowns)
		}
		if g.OnePacket && !g.hasProto("udp") {
			p.add(at+".one_packet", "one-packet scheduling is for UDP, and the group has no udp port")
		}
		validateGroupHealth(p, g, at)
	}
	// Allocation: in file order, the lowest free mark of the range.
	next := uint64(x.Marks.First)
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.FWMark != 0 || !marksOK {
			continue
		}
		for next <= uint64(x.Marks.Last) {
			if _, taken := marks[uint32(next)]; !taken {
				break
			}
			next++
		}
		if next > uint64(x.Marks.Last) {
			p.add(fmt.Sprintf("group[%d].fwmark", i), "no free fwmark left in ipvs.fwmark_range %s", x.Marks)
			continue
		}
		g.Mark = uint32(next)
		marks[g.Mark] = i
	}
}

// hasProto reports whether the group has a port of proto.
func (g *Group) hasProto(proto string) bool {
	for _, gp := range g.PortSet {
		if gp.Proto == proto {
			return true
		}
	}
	return false
}

// check says what is wrong with an entry; "" when nothing is.
func (g GroupPort) check() string {
	if g.Proto != "tcp" && g.Proto != "udp" {
		return fmt.Sprintf("%q: want \"tcp/PORT\", \"udp/PORT\" or a range such as \"udp/6970-7170\"", g)
	}
	if g.Ports.First == g.Ports.Last && g.Ports.First == 0 {
		return fmt.Sprintf("%q: \"0\" is not a port 1-65535", g)
	}
	if msg := g.Ports.check(); msg != "" {
		return fmt.Sprintf("%q: %s", g, msg)
	}
	return ""
}

// validateGroupPool checks the group's pool and that its realservers can
// be destinations of a service on the VIP's family.
func (c *Config) validateGroupPool(p *problems, g *Group, at string) {
	switch {
	case g.Pool == "":
		p.add(at+".pool", "missing: name the [[pool]] whose realservers serve this group")
		return
	case c.Pool(g.Pool) == nil:
		p.add(at+".pool", "unknown pool %q%s", g.Pool, knownPools(c))
		return
	}
	if !g.VIPAddr.IsValid() || g.Forward == "tunnel" {
		return // tunnels may cross families (IPv6 in IPv4 and back)
	}
	for _, rs := range c.Pool(g.Pool).Realservers {
		if a := rs.AddrPort.Addr(); a.IsValid() && a.Is4() != g.VIPAddr.Is4() {
			p.add(at+".pool", "realserver %q of pool %q is not of the VIP's address family: IPVS %s forwards within one family (tunnel can cross)", rs.AddrPort, g.Pool, g.Forward)
			return
		}
	}
}

// validateGroupHealth resolves the health port.
func validateGroupHealth(p *problems, g *Group, at string) {
	h := &g.Health
	if !slices.Contains(groupHealths, h.Kind) {
		p.add(at+".health.kind", "unknown health kind %q: want one of %q", h.Kind, groupHealths)
		return
	}
	if h.Port < 0 || h.Port > 65535 {
		p.add(at+".health.port", "%d is not a port", h.Port)
		return
	}
	if h.Kind != "tcp" || h.Port != 0 {
		return
	}
	for _, gp := range g.PortSet {
		if gp.Proto == "tcp" {
			h.Port = int(gp.Ports.First)
			return
		}
	}
	if len(g.PortSet) > 0 {
		p.add(at+".health.port", "missing: a group without TCP ports needs a TCP port to check, or kind = \"none\"")
	}
}

// validateVIP refuses a missing VIP, a wildcard and a zone, and unmaps an
// IPv4-mapped address.
func validateVIP(p *problems, v *VIP, path string) {
	a := v.Addr
	switch {
	case !a.IsValid():
		p.add(path, "missing: want the virtual IP address such as \"203.0.113.20\"")
	case a.IsUnspecified():
		p.add(path, "%q is a wildcard: a group needs its VIP", a)
	case a.Zone() != "":
		p.add(path, "%q has a zone", a)
	default:
		v.Addr = a.Unmap()
	}
}

// validNFTName reports whether s is a usable nftables table name.
func validNFTName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_'):
		default:
			return false
		}
	}
	return true
}
