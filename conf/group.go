package conf

import (
	"fmt"
	"net/netip"
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
	// VIP is the virtual IP address the group's ports belong to: an IP
	// literal without port, not a wildcard. Required.
	VIP string `toml:"vip"`
	// Ports are "proto/port" or "proto/first-last" with proto tcp or udp
	// ("tcp/554", "udp/6970-7170"). At least one. A port of the VIP
	// belongs to one owner: a group, or an algd listener or port range.
	Ports []string `toml:"ports"`
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
	// (the default) is off.
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

	// VIPAddr is VIP, parsed.
	VIPAddr netip.Addr `toml:"-"`
	// PortSet is Ports, parsed, in file order.
	PortSet []GroupPort `toml:"-"`
	// Mark is the fwmark in use: FWMark, or the one allocated.
	Mark uint32 `toml:"-"`
	// Timeout is Persistence in whole seconds, 0 when off.
	Timeout uint32 `toml:"-"`
}

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

// GroupPort is one "proto/ports" entry of a group.
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

// IPVS configures how algd programs kernel IPVS and nftables for the
// [[group]]s.
type IPVS struct {
	// FWMarkRange is the range of fwmarks algd owns, "first-last" in
	// decimal or 0x hex: it creates, changes and deletes IPVS fwmark
	// services in it only. Default "10000-10999".
	FWMarkRange string `toml:"fwmark_range"`
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

	// Marks is FWMarkRange, parsed.
	Marks MarkRange `toml:"-"`
}

// MarkRange is an inclusive range of fwmarks.
type MarkRange struct {
	First, Last uint32
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
	defaultFWMarkRange       = "10000-10999"
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
	if c.IPVS.FWMarkRange == "" {
		c.IPVS.FWMarkRange = defaultFWMarkRange
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
	x.Marks = MarkRange{}
	if r, msg := parseMarkRange(x.FWMarkRange); msg != "" {
		p.add("ipvs.fwmark_range", "%s", msg)
	} else {
		x.Marks = r
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
		g.VIPAddr = netip.Addr{}
		if a, msg := parseVIP(g.VIP); msg != "" {
			p.add(at+".vip", "%s", msg)
		} else {
			g.VIPAddr = a
		}
		g.PortSet = g.PortSet[:0]
		if len(g.Ports) == 0 {
			p.add(at+".ports", "missing: want entries such as \"tcp/554\" or \"udp/6970-7170\"")
		}
		for j, s := range g.Ports {
			gp, msg := parseGroupPort(s)
			if msg != "" {
				p.add(fmt.Sprintf("%s.ports[%d]", at, j), "%s", msg)
				continue
			}
			g.PortSet = append(g.PortSet, gp)
		}
		g.Mark = 0
		switch {
		case g.FWMark < 0 || int64(g.FWMark) > 0xffffffff:
			p.add(at+".fwmark", "%d is not a 32-bit mark", g.FWMark)
		case g.FWMark > 0 && x.Marks.Last > 0 && !x.Marks.Contains(uint32(g.FWMark)):
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
		g.Timeout = 0
		switch d := g.Persistence.Duration; {
		case d < 0:
			p.add(at+".persistence", "negative duration %q", g.Persistence.String())
		case d%time.Second != 0:
			p.add(at+".persistence", "%q is not whole seconds: IPVS counts persistence in seconds", g.Persistence.String())
		case d/time.Second > 0xffffffff:
			p.add(at+".persistence", "%q is too long", g.Persistence.String())
		default:
			g.Timeout = uint32(d / time.Second)
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
		if g.FWMark != 0 || x.Marks.Last == 0 {
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
			p.add(at+".pool", "realserver %q of pool %q is not of the VIP's address family: IPVS %s forwards within one family (tunnel can cross)", rs.Address, g.Pool, g.Forward)
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

// parseVIP parses a group's VIP: an IP literal, not a wildcard, no zone.
func parseVIP(s string) (netip.Addr, string) {
	if s == "" {
		return netip.Addr{}, "missing: want the virtual IP address such as \"203.0.113.20\""
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return a, fmt.Sprintf("%q is not an IP address literal (no port, no name)", s)
	case a.IsUnspecified():
		return a, fmt.Sprintf("%q is a wildcard: a group needs its VIP", s)
	case a.Zone() != "":
		return a, fmt.Sprintf("%q has a zone", s)
	}
	return a.Unmap(), ""
}

// parseGroupPort parses "tcp/554" or "udp/6970-7170".
func parseGroupPort(s string) (GroupPort, string) {
	proto, ports, ok := strings.Cut(s, "/")
	if !ok || (proto != "tcp" && proto != "udp") {
		return GroupPort{}, fmt.Sprintf("%q: want \"tcp/PORT\", \"udp/PORT\" or a range such as \"udp/6970-7170\"", s)
	}
	if !strings.Contains(ports, "-") {
		n, err := strconv.ParseUint(ports, 10, 16)
		if err != nil || n == 0 {
			return GroupPort{}, fmt.Sprintf("%q: %q is not a port 1-65535", s, ports)
		}
		return GroupPort{Proto: proto, Ports: PortRange{uint16(n), uint16(n)}}, ""
	}
	r, msg := parsePortRange(ports)
	if msg != "" {
		return GroupPort{}, fmt.Sprintf("%q: %s", s, msg)
	}
	return GroupPort{Proto: proto, Ports: r}, ""
}

// parseMarkRange parses "first-last", each decimal or 0x hex, 1 to
// 0xffffffff.
func parseMarkRange(s string) (MarkRange, string) {
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		return MarkRange{}, fmt.Sprintf("%q is not a range: want \"first-last\" such as \"10000-10999\" or \"0x100-0x1ff\"", s)
	}
	f, errF := strconv.ParseUint(strings.TrimSpace(first), 0, 32)
	l, errL := strconv.ParseUint(strings.TrimSpace(last), 0, 32)
	switch {
	case errF != nil || errL != nil:
		return MarkRange{}, fmt.Sprintf("%q is not a range of 32-bit marks", s)
	case f == 0:
		return MarkRange{}, fmt.Sprintf("%q contains mark 0, which means \"no mark\"", s)
	case f > l:
		return MarkRange{}, fmt.Sprintf("%q is inverted", s)
	}
	return MarkRange{First: uint32(f), Last: uint32(l)}, ""
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
