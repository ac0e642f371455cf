package ipvs

import (
	"net/netip"
	"slices"

	"github.com/algd/algd/conf"
)

// Forward is an IPVS forwarding method (IP_VS_CONN_F_FWD_MASK values of
// include/uapi/linux/ip_vs.h).
type Forward uint32

// The forwarding methods a group can use.
const (
	// Masq is NAT (IP_VS_CONN_F_MASQ = 0, ipvsadm -m).
	Masq Forward = 0
	// Tunnel is IP-in-IP (IP_VS_CONN_F_TUNNEL = 2, ipvsadm -i).
	Tunnel Forward = 2
	// DR is direct routing (IP_VS_CONN_F_DROUTE = 3, ipvsadm -g).
	DR Forward = 3
)

// String returns the ipvsadm -Ln name of the method.
func (f Forward) String() string {
	switch f {
	case Masq:
		return "Masq"
	case Tunnel:
		return "Tunnel"
	case DR:
		return "Route"
	}
	return "Fwd?"
}

// Flags are IPVS service flags (IP_VS_SVC_F_* of include/uapi/linux/ip_vs.h).
type Flags uint32

// The service flags algd sets or reads back.
const (
	// Persistent is IP_VS_SVC_F_PERSISTENT (ipvsadm -p).
	Persistent Flags = 0x0001
	// Hashed is IP_VS_SVC_F_HASHED: the kernel sets it on every service
	// in its table; it is masked off before comparing.
	Hashed Flags = 0x0002
	// OnePacket is IP_VS_SVC_F_ONEPACKET (ipvsadm -o, --ops).
	OnePacket Flags = 0x0004
	// SHFallback is IP_VS_SVC_F_SCHED_SH_FALLBACK (= IP_VS_SVC_F_SCHED1,
	// ipvsadm -b sh-fallback): a client whose bucket holds an unavailable
	// destination is moved on instead of refused.
	SHFallback Flags = 0x0008
	// SHPort is IP_VS_SVC_F_SCHED_SH_PORT (= IP_VS_SVC_F_SCHED2, ipvsadm
	// -b sh-port): hash the source port too. algd never sets it.
	SHPort Flags = 0x0010
)

// Service is one IPVS fwmark virtual service and its destinations.
type Service struct {
	// Group is the owning group's name; "" for a service the reconciler
	// found in its range but no group claims. Not stored in the kernel.
	Group string
	// Mark is the fwmark (ipvsadm -f).
	Mark uint32
	// IPv6 is the service's address family (ipvsadm -6).
	IPv6 bool
	// Scheduler is the IPVS scheduler name (ipvsadm -s).
	Scheduler string
	// Flags are the service flags, Hashed masked off.
	Flags Flags
	// Timeout is the persistence timeout in seconds, with Persistent.
	Timeout uint32
	// Dests are the destinations in configuration order (algd's sh and
	// the kernel's depend on it: the kernel lists them in reverse).
	Dests []Dest
}

// Dest is one destination of a service. Its port is always 0: the client's
// destination port is kept, whichever port of the group it connected to.
type Dest struct {
	// Addr is the realserver's address.
	Addr netip.Addr
	// Forward is the forwarding method.
	Forward Forward
	// Weight is the scheduling weight; 0 drains.
	Weight uint32
	// Active and Inactive are the kernel's connection counters, filled
	// on read-back only (ipvsadm -Ln ActiveConn, InActConn).
	Active, Inactive uint32
}

// same reports whether two destinations are configured alike (counters
// ignored).
func (d Dest) same(o Dest) bool {
	return d.Addr == o.Addr && d.Forward == o.Forward && d.Weight == o.Weight
}

// sameAttrs reports whether two services have the same attributes apart
// from their destinations.
func (s *Service) sameAttrs(o *Service) bool {
	return s.Mark == o.Mark && s.IPv6 == o.IPv6 && s.Scheduler == o.Scheduler &&
		s.Flags&^Hashed == o.Flags&^Hashed && s.Timeout == o.Timeout
}

// Mark is one nftables rule of the owned table: packets to VIP with
// protocol Proto and a destination port in Ports get the fwmark Mark.
type Mark struct {
	// Group names the group the rule marks for.
	Group string
	// VIP is the destination address matched.
	VIP netip.Addr
	// Proto is "tcp" or "udp".
	Proto string
	// Ports is the destination port range matched.
	Ports conf.PortRange
	// Mark is the value set (meta mark set).
	Mark uint32
}

// State is the whole kernel state a configuration asks for, or the part of
// the kernel's state that algd owns.
type State struct {
	// Table is the name of the owned nftables table (family inet).
	Table string
	// Range is the owned fwmark range.
	Range conf.MarkRange
	// Services are the fwmark services, in group order.
	Services []Service
	// Marks are the rules of the table, in group and port order.
	Marks []Mark
}

// Member is the live state of one realserver of a group, as health sees it.
type Member struct {
	// Addr is the realserver's address.
	Addr netip.Addr
	// Up is the health verdict.
	Up bool
	// Weight is the current weight; 0 drains.
	Weight int
}

// Members returns the live members of a group in configuration order.
// Desired calls it once per group; nil (the function) means every
// realserver up with its configured weight.
type Members func(g *conf.Group) []Member

// ConfigMembers returns a group's realservers as configured: all up, with
// their configured weights. It is what `algd ipvs plan` shows.
func ConfigMembers(c *conf.Config) Members {
	return func(g *conf.Group) []Member {
		p := c.Pool(g.Pool)
		if p == nil {
			return nil
		}
		out := make([]Member, 0, len(p.Realservers))
		for _, rs := range p.Realservers {
			out = append(out, Member{Addr: rs.AddrPort.Addr(), Up: true, Weight: rs.W()})
		}
		return out
	}
}

// forwards maps conf's forward names to methods.
var forwards = map[string]Forward{"masq": Masq, "dr": DR, "tunnel": Tunnel}

// Desired builds the kernel state for the groups of c, a validated
// configuration, with the live members that members reports (nil: as
// configured).
//
// A down member is left out when the group's on_down is "remove" and kept
// with weight 0 when it is "drain". sh services get the sh-fallback flag,
// as algd's own sh always falls back. Destinations keep configuration
// order, so that the kernel's sh table is the one pool builds.
func Desired(c *conf.Config, members Members) State {
	if members == nil {
		members = ConfigMembers(c)
	}
	st := State{Table: c.IPVS.NFTTable, Range: c.IPVS.Marks}
	for i := range c.Groups {
		g := &c.Groups[i]
		svc := Service{
			Group:     g.Name,
			Mark:      g.Mark,
			IPv6:      g.VIPAddr.Is6(),
			Scheduler: g.Scheduler,
			Timeout:   g.Timeout(),
		}
		if g.Timeout() > 0 {
			svc.Flags |= Persistent
		}
		if g.OnePacket {
			svc.Flags |= OnePacket
		}
		if g.Scheduler == "sh" {
			svc.Flags |= SHFallback
		}
		for _, m := range members(g) {
			w := max(m.Weight, 0)
			if !m.Up {
				if g.OnDown == "remove" {
					continue
				}
				w = 0
			}
			svc.Dests = append(svc.Dests, Dest{Addr: m.Addr.Unmap(), Forward: forwards[g.Forward], Weight: uint32(w)})
		}
		st.Services = append(st.Services, svc)
		for _, gp := range g.PortSet {
			st.Marks = append(st.Marks, Mark{Group: g.Name, VIP: g.VIPAddr.Addr, Proto: gp.Proto, Ports: gp.Ports, Mark: g.Mark})
		}
	}
	return st
}

// service returns the service with mark m and family, or nil.
func (s *State) service(mark uint32, ipv6 bool) *Service {
	for i := range s.Services {
		if s.Services[i].Mark == mark && s.Services[i].IPv6 == ipv6 {
			return &s.Services[i]
		}
	}
	return nil
}

// sameMarks reports whether two rule lists are equal, order included.
func sameMarks(a, b []Mark) bool {
	return slices.Equal(a, b)
}
