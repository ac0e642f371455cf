package nat

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
)

// capNetAdmin is CAP_NET_ADMIN's bit in /proc/self/status's CapEff.
const capNetAdmin = 12

// Probe says whether the kernel path can be used in opts's namespace
// and why not, for algd check; it changes nothing (the nat chain it
// tries is created and deleted in one batch, so never exists).
func Probe(opts Options) Report {
	opts = opts.withDefaults()
	var r Report
	if !hasCapNetAdmin() {
		r.Missing = append(r.Missing, "CAP_NET_ADMIN (run as root or grant the capability)")
		return r
	}
	nopts := []nftables.ConnOption{}
	if opts.NetNS != 0 {
		nopts = append(nopts, nftables.WithNetNSFd(opts.NetNS))
	}
	c, err := nftables.New(nopts...)
	if err == nil {
		// A nat chain in a table that the same batch deletes.
		tb := &nftables.Table{Name: opts.Table + "_probe", Family: nftables.TableFamilyINet}
		c.AddTable(tb)
		pre, _, _ := chains(tb)
		c.AddChain(pre)
		c.DelTable(tb)
		err = c.Flush()
	}
	if err != nil {
		r.Missing = append(r.Missing, missing("nftables nat chain", err).Error())
	}
	ct, err := conntrack.Dial(&netlink.Config{NetNS: opts.NetNS})
	if err == nil {
		_, err = ct.StatsGlobal()
		ct.Close()
	}
	if err != nil {
		r.Missing = append(r.Missing, missing("conntrack netlink", err).Error())
	}
	for _, s := range []struct{ name, family string }{
		{"net/ipv4/ip_forward", "IPv4"},
		{"net/ipv6/conf/all/forwarding", "IPv6"},
	} {
		v, err := sysctl(opts.NetNS, s.name)
		if err == nil && v == "0" {
			r.NoForward = append(r.NoForward, fmt.Sprintf("%s=0: %s connections mapped to a realserver on another host cannot be forwarded", strings.ReplaceAll(s.name, "/", "."), s.family))
		}
	}
	return r
}

func hasCapNetAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<capNetAdmin) != 0
		}
	}
	return false
}
