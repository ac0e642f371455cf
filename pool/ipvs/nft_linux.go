package ipvs

import (
	"encoding/binary"
	"fmt"
	"reflect"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// netlinkFirewall is the owned nftables table over netlink, through
// github.com/google/nftables.
type netlinkFirewall struct {
	opts []nftables.ConnOption
}

// NewFirewall returns the nftables side in the network namespace whose
// file descriptor is netns, or in the caller's namespace when netns is 0.
func NewFirewall(netns int) (Firewall, error) {
	f := &netlinkFirewall{}
	if netns != 0 {
		f.opts = append(f.opts, nftables.WithNetNSFd(netns))
	}
	if _, err := f.conn(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *netlinkFirewall) conn() (*nftables.Conn, error) {
	c, err := nftables.New(f.opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// table and chain are the owned objects, as Replace writes them.
func table(name string) *nftables.Table {
	return &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
}

func chain(t *nftables.Table) *nftables.Chain {
	return &nftables.Chain{
		Name:     chainName,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityRef(chainPriority),
		Policy:   new(nftables.ChainPolicyAccept),
	}
}

// Replace implements Firewall with one batch, the netlink form of
//
//	nft -f - <<<'table inet T; delete table inet T; table inet T { chain prerouting { ... } }'
//
// NEWTABLE without NLM_F_EXCL succeeds whether or not the table exists,
// so the DELTABLE that follows always has something to delete; the kernel
// applies the batch as one transaction or not at all.
func (f *netlinkFirewall) Replace(name string, marks []Mark) error {
	c, err := f.conn()
	if err != nil {
		return err
	}
	t := table(name)
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	ch := c.AddChain(chain(t))
	for _, m := range marks {
		c.AddRule(&nftables.Rule{
			Table:    t,
			Chain:    ch,
			Exprs:    markExprs(m),
			UserData: userdata.AppendString(nil, userdata.TypeComment, ruleComment(m)),
		})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: replace table inet %s: %w", name, err)
	}
	return nil
}

// Delete implements Firewall (nft delete table inet T); a missing table
// is not an error.
func (f *netlinkFirewall) Delete(name string) error {
	c, err := f.conn()
	if err != nil {
		return err
	}
	t := table(name)
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: delete table inet %s: %w", name, err)
	}
	return nil
}

// Marks implements Firewall. ok is false unless the table holds exactly
// the one base chain Replace writes and every rule is one Replace would
// write: its comment names a Mark and its expressions are that Mark's,
// counters aside.
func (f *netlinkFirewall) Marks(name string) (marks []Mark, exists, ok bool, err error) {
	c, err := f.conn()
	if err != nil {
		return nil, false, false, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, false, false, fmt.Errorf("nftables: list tables: %w", err)
	}
	var t *nftables.Table
	for _, x := range tables {
		if x.Name == name {
			t = x
		}
	}
	if t == nil {
		return nil, false, false, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, true, false, fmt.Errorf("nftables: list chains: %w", err)
	}
	var mine []*nftables.Chain
	for _, x := range chains {
		if x.Table.Name == name {
			mine = append(mine, x)
		}
	}
	if len(mine) != 1 || !sameChain(mine[0], chain(t)) {
		return nil, true, false, nil
	}
	rules, err := c.GetRules(t, mine[0])
	if err != nil {
		return nil, true, false, fmt.Errorf("nftables: list rules: %w", err)
	}
	ok = true
	for _, r := range rules {
		text, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		m, parsed := parseComment(text)
		if !parsed || !sameExprs(r.Exprs, markExprs(m)) {
			ok = false
			continue
		}
		marks = append(marks, m)
	}
	return marks, true, ok, nil
}

// sameChain compares the attributes Replace sets.
func sameChain(a, b *nftables.Chain) bool {
	return a.Name == b.Name && a.Type == b.Type &&
		a.Hooknum != nil && *a.Hooknum == *b.Hooknum &&
		a.Priority != nil && *a.Priority == *b.Priority &&
		a.Policy != nil && *a.Policy == *b.Policy
}

// sameExprs compares expression lists, ignoring counter values.
func sameExprs(got, want []expr.Any) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if _, isCounter := got[i].(*expr.Counter); isCounter {
			if _, also := want[i].(*expr.Counter); also {
				continue
			}
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			return false
		}
	}
	return true
}

// markExprs is the rule for m, what nft makes of
//
//	ip daddr VIP tcp dport 554 counter meta mark set 0x1
//	ip6 daddr VIP udp dport 6970-7170 counter meta mark set 0x1
//
// in an inet table: the family check (meta nfproto), the address at
// offset 16 of the IPv4 header (24 of IPv6), the protocol (meta l4proto),
// the port at offset 2 of the transport header compared for equality or
// as >= first and <= last, a counter, and the mark loaded into register 1
// and stored with meta set.
func markExprs(m Mark) []expr.Any {
	proto, off, alen := byte(unix.NFPROTO_IPV4), uint32(16), uint32(4)
	if m.VIP.Is6() {
		proto, off, alen = unix.NFPROTO_IPV6, 24, 16
	}
	l4 := byte(unix.IPPROTO_TCP)
	if m.Proto == "udp" {
		l4 = unix.IPPROTO_UDP
	}
	port := func(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: alen},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: m.VIP.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4}},
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
	if m.Ports.First == m.Ports.Last {
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port(m.Ports.First)})
	} else {
		e = append(e,
			&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: port(m.Ports.First)},
			&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: port(m.Ports.Last)})
	}
	return append(e,
		&expr.Counter{},
		// The mark is a host-order u32 in the register (skb->mark).
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(m.Mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	)
}

var _ Firewall = (*netlinkFirewall)(nil)
