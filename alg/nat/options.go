package nat

import (
	"errors"
	"log/slog"
	"time"
)

// DefaultTable is the nftables table (family inet) Open creates.
// pool/ipvs owns table "algd"; this one is algd's NAT table.
const DefaultTable = "algd_nat"

// DefaultMark is the ct mark bit the fixed DNAT rules set on every
// connection they translate. The rules OR it in, so other bits of the
// mark (someone else's) are kept.
const DefaultMark uint32 = 0x20000000

// DefaultTimeout is how long a one-shot mapping waits for its
// connection when its Timeout is zero.
const DefaultTimeout = 30 * time.Second

// ErrUnsupported is returned where the kernel path does not exist
// (other operating systems than Linux).
var ErrUnsupported = errors.New("nat: the kernel data path needs Linux nftables and conntrack")

// Options configure a Table. Zero values mean the defaults.
type Options struct {
	// Table is the name of algd's inet table (default DefaultTable).
	Table string
	// Mark is the ct mark bit (or bits) algd's connections carry
	// (default DefaultMark).
	Mark uint32
	// Logger receives kernel warnings (default slog.Default()).
	Logger *slog.Logger
	// Adopt keeps an existing table and its elements instead of
	// recreating it: a new process taking over from one that drains.
	// It also keeps conntrack entries carrying Mark, which a fresh
	// Open deletes as left over by a crash.
	Adopt bool
	// NetNS is an open file descriptor of the network namespace to
	// work in; 0 means the caller's.
	NetNS int
	// Flowtable adds an nftables flowtable (software fast path) for
	// established mapped connections forwarded between the interfaces
	// named here. Empty: none. BenchmarkStream showed no gain (the
	// figures are in docs/kernel-path.md), so algd leaves it off.
	Flowtable []string
}

func (o Options) withDefaults() Options {
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.Mark == 0 {
		o.Mark = DefaultMark
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Report is what Probe found.
type Report struct {
	// Missing: what the kernel path needs and this host (or process)
	// lacks. Non-empty means the kernel path cannot be used.
	Missing []string
	// NoForward: forwarding sysctls that are off, each entry starting
	// with the sysctl as "net.ipv4.ip_forward=0" (or
	// "net.ipv6.conf.all.forwarding=0"). The kernel path works towards
	// realservers on the director itself, but DNAT to one on another
	// host cannot be forwarded.
	NoForward []string
}

// Usable says whether the kernel path can be used at all.
func (r Report) Usable() bool { return len(r.Missing) == 0 }
