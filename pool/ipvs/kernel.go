package ipvs

import "errors"

// ErrUnsupported is returned where the kernel (or the operating system)
// has no IPVS or no nftables.
var ErrUnsupported = errors.New("ipvs: not supported by this kernel")

// IPVS is the kernel's IP virtual server table, restricted to fwmark
// services. Implementations: NewIPVS (netlink, Linux) and FakeIPVS.
type IPVS interface {
	// Services returns every fwmark service of the kernel with its
	// destinations in the kernel's list order (reverse insertion). Group
	// is left empty; an empty table is no error.
	Services() ([]Service, error)
	// AddService creates a service without destinations
	// (ipvsadm -A -f MARK ...).
	AddService(s Service) error
	// UpdateService changes a service's scheduler, flags and timeout
	// (ipvsadm -E -f MARK ...).
	UpdateService(s Service) error
	// DelService deletes a service and its destinations (ipvsadm -D -f MARK).
	DelService(s Service) error
	// AddDest adds a destination with port 0 (ipvsadm -a -f MARK -r ADDR:0 ...).
	AddDest(s Service, d Dest) error
	// UpdateDest changes a destination's weight and method (ipvsadm -e ...).
	UpdateDest(s Service, d Dest) error
	// DelDest removes a destination (ipvsadm -d -f MARK -r ADDR:0).
	DelDest(s Service, d Dest) error
}

// Firewall is the nftables table that marks the groups' packets, owned by
// algd as a whole. Implementations: NewFirewall (netlink, Linux) and
// FakeFirewall.
type Firewall interface {
	// Marks reads the table back. exists is false when there is no such
	// table. A table whose chain or rules differ in any way from what
	// Replace writes is reported with ok false, so that it is replaced.
	Marks(table string) (marks []Mark, exists, ok bool, err error)
	// Replace makes the table hold exactly marks, in one transaction
	// (nft -f: table; delete table; table { ... }).
	Replace(table string, marks []Mark) error
	// Delete removes the table if it exists (nft delete table inet NAME).
	Delete(table string) error
}
