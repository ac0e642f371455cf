package nat

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// flowtableName is the flowtable of Options.Flowtable.
const flowtableName = "fastpath"

// addFlowtable queues, when Options.Flowtable names interfaces, a
// flowtable on them and a forward chain that puts algd's established
// connections into it:
//
//	flowtable fastpath { hook ingress priority filter; devices = { ... }; counter; }
//	chain forward { type filter hook forward priority filter; policy accept;
//		ct mark & MARK == MARK flow add @fastpath }
//
// Its packets then skip the forward path (routing, the hooks, conntrack
// lookups) after the first few of a connection; "counter" keeps
// conntrack's byte counts (NF_FLOWTABLE_COUNTER). The flow_offload
// expression itself leaves out packets of connections not established
// and TCP segments with FIN or RST.
func (t *Table) addFlowtable(c *nftables.Conn) error {
	if len(t.opts.Flowtable) == 0 {
		return nil
	}
	c.AddFlowtable(&nftables.Flowtable{
		Table: t.tbl, Name: flowtableName, Hooknum: nftables.FlowtableHookIngress,
		Priority: nftables.FlowtablePriorityFilter, Devices: t.opts.Flowtable,
		Flags: nftables.FlowtableFlagsCounter,
	})
	accept := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{
		Name: "forward", Table: t.tbl, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	})
	c.AddRule(&nftables.Rule{Table: t.tbl, Chain: fwd,
		Exprs: append(markedExprs(t.opts.Mark), &expr.FlowOffload{Name: flowtableName})})
	return nil
}
