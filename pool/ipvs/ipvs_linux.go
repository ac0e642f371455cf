package ipvs

import (
	"errors"
	"fmt"
	"os"

	cf "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
)

// netlinkIPVS is IPVS over generic netlink (family "IPVS"), through
// github.com/cloudflare/ipvs.
type netlinkIPVS struct {
	c cf.Client
}

// NewIPVS connects to the kernel's IPVS over generic netlink in the
// calling thread's network namespace. Without IPVS in the kernel (no
// /proc/net/ip_vs, no "IPVS" generic netlink family) it returns an error
// wrapping ErrUnsupported.
func NewIPVS() (IPVS, error) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		return nil, fmt.Errorf("%w: no /proc/net/ip_vs: load the ip_vs module or use a kernel with CONFIG_IP_VS", ErrUnsupported)
	}
	c, err := cf.New()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: no IPVS generic netlink family: %v", ErrUnsupported, err)
		}
		return nil, fmt.Errorf("ipvs: netlink: %w", err)
	}
	return &netlinkIPVS{c: c}, nil
}

// Services implements IPVS. The library reports an empty table as
// os.ErrNotExist; that is an empty list here.
func (n *netlinkIPVS) Services() ([]Service, error) {
	svcs, err := n.c.Services()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var out []Service
	for _, s := range svcs {
		if s.FWMark == 0 {
			continue // address:port services are never algd's
		}
		svc := Service{
			Mark:      s.FWMark,
			IPv6:      s.Family == cf.INET6,
			Scheduler: s.Scheduler,
			Flags:     Flags(s.Flags) &^ Hashed,
			Timeout:   s.Timeout,
		}
		if svc.Flags&Persistent == 0 {
			svc.Timeout = 0
		}
		ds, err := n.c.Destinations(s.Service)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("list destinations of fwmark %d: %w", s.FWMark, err)
		}
		for _, d := range ds {
			svc.Dests = append(svc.Dests, Dest{
				Addr:     d.Address,
				Forward:  Forward(d.FwdMethod),
				Weight:   d.Weight,
				Active:   d.ActiveConnections,
				Inactive: d.InactiveConnections,
			})
		}
		out = append(out, svc)
	}
	return out, nil
}

// toCF converts a service for the library. The persistence netmask is
// /32 (/128): one client address is one persistence entry. The kernel
// refuses a NEW_SERVICE without a netmask attribute (EINVAL), and the
// library sends one only when it is valid.
func toCF(s Service) cf.Service {
	c := cf.Service{
		FWMark:    s.Mark,
		Family:    cf.INET,
		Scheduler: s.Scheduler,
		Flags:     cf.Flags(s.Flags &^ Hashed),
		Timeout:   s.Timeout,
		Netmask:   netmask.MaskFrom(32, 32),
	}
	if s.IPv6 {
		c.Family, c.Netmask = cf.INET6, netmask.MaskFrom(128, 128)
	}
	return c
}

// toCFDest converts a destination; port 0 keeps the client's port.
func toCFDest(d Dest) cf.Destination {
	c := cf.Destination{Address: d.Addr, FwdMethod: cf.ForwardType(d.Forward), Weight: d.Weight, Family: cf.INET}
	if d.Addr.Is6() {
		c.Family = cf.INET6
	}
	return c
}

// AddService implements IPVS.
func (n *netlinkIPVS) AddService(s Service) error { return n.c.CreateService(toCF(s)) }

// UpdateService implements IPVS. The library sends the flags with a full
// mask, so the kernel's flags become exactly s.Flags.
func (n *netlinkIPVS) UpdateService(s Service) error { return n.c.UpdateService(toCF(s)) }

// DelService implements IPVS.
func (n *netlinkIPVS) DelService(s Service) error { return n.c.RemoveService(toCF(s)) }

// AddDest implements IPVS.
func (n *netlinkIPVS) AddDest(s Service, d Dest) error {
	return n.c.CreateDestination(toCF(s), toCFDest(d))
}

// UpdateDest implements IPVS.
func (n *netlinkIPVS) UpdateDest(s Service, d Dest) error {
	return n.c.UpdateDestination(toCF(s), toCFDest(d))
}

// DelDest implements IPVS.
func (n *netlinkIPVS) DelDest(s Service, d Dest) error {
	return n.c.RemoveDestination(toCF(s), toCFDest(d))
}

var _ IPVS = (*netlinkIPVS)(nil)
