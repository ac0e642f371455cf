// Package nat is the kernel data path (alg.Kernel): one-shot NAT
// mappings in algd's own nftables table, and a conntrack watcher that
// tells their owners when a mapped connection came, what it carried and
// when it ended.
//
// Open creates the inet table (default "algd_nat") as a whole, in one
// netlink batch that first deletes a stale table of the same name: fixed
// chains (DNAT in prerouting and output, SNAT in postrouting) and fixed
// rules that look a connection's original tuple up in maps with
// per-element timeouts. Map adds a mapping's elements (one DNAT element,
// one SNAT element) in one batch; no rule is ever added or removed per
// mapping. The DNAT rules OR a bit (Options.Mark) into the connection's
// ct mark, so the watcher (conntrack events, github.com/ti-mo/conntrack)
// and the crash cleanup at Open find algd's connections and no others.
//
// An element's key is a connection's tuple: layer 4 protocol, source
// address, source port (only in the *_port maps, for mappings whose From
// names a port), destination address and port. DNAT elements are keyed
// on the tuple the client sends (From, Dst), SNAT elements on the tuple
// after DNAT (From, To), which is what postrouting sees.
//
// docs/kernel-path.md describes the table, what the firewall sees and
// what a crash leaves.
package nat
