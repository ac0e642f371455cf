package nat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// Table is algd's NAT table in one network namespace, and the conntrack
// watcher of the connections its mappings make. It implements
// alg.Kernel; its methods may be called from any goroutine.
type Table struct {
	opts Options
	log  *slog.Logger
	tbl  *nftables.Table
	sets map[string]*nftables.Set

	nftMu sync.Mutex // one batch at a time on nft
	nft   *nftables.Conn
	ct    *conntrack.Conn // requests: get, delete

	mu     sync.Mutex
	byKey  map[string]*mapping // installed elements, by key
	byFlow map[uint32]*mapping // live connections, by conntrack id
	snat   map[string]*snatRef // SNAT elements, by map and key
	spent  map[string]*mapping // one-shots just used, by key
	closed bool
	q      *queue // callbacks, run by watch's goroutine

	// Test seams: kick breaks the event subscription as a socket
	// overflow would; lost, when set, runs on the watcher's goroutine
	// while nobody reads the broken subscription's events.
	kick chan error
	lost func()

	cancel context.CancelFunc
	done   chan struct{}
}

// setSpec is one of the table's maps.
type setSpec struct {
	name     string
	v4       bool
	withPort bool
	addrOnly bool
}

func setSpecs(v4 bool) (dnat, snat []setSpec) {
	n := namesOf(v4)
	dnat = []setSpec{{name: n.dnatPort, v4: v4, withPort: true}, {name: n.dnat, v4: v4}}
	snat = []setSpec{
		{name: n.snatPort, v4: v4, withPort: true}, {name: n.snatPortA, v4: v4, withPort: true, addrOnly: true},
		{name: n.snat, v4: v4}, {name: n.snatAddr, v4: v4, addrOnly: true},
	}
	return dnat, snat
}

func newSet(t *nftables.Table, s setSpec) *nftables.Set {
	return &nftables.Set{
		Table: t, Name: s.name, IsMap: true, HasTimeout: true, Concatenation: true,
		KeyType: keyType(s.v4, s.withPort), DataType: dataType(s.v4, s.addrOnly),
	}
}

// Chain priorities: NF_IP_PRI_NAT_DST (-100) and NF_IP_PRI_NAT_SRC (100),
// where nft's "dstnat" and "srcnat" put them.
func chains(t *nftables.Table) (pre, out, post *nftables.Chain) {
	accept := nftables.ChainPolicyAccept
	mk := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio, Policy: &accept}
	}
	return mk("prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		mk("output", nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
		mk("postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
}

// Open creates (or, with Adopt, takes over) algd's NAT table and starts
// the conntrack watcher. It sets net.netfilter.nf_conntrack_acct=1 in
// its namespace (byte counts). An error names what is missing.
func Open(ctx context.Context, opts Options) (*Table, error) {
	opts = opts.withDefaults()
	t := &Table{
		opts: opts, log: opts.Logger.With("table", "inet "+opts.Table),
		tbl:    &nftables.Table{Name: opts.Table, Family: nftables.TableFamilyINet},
		sets:   map[string]*nftables.Set{},
		byKey:  map[string]*mapping{},
		byFlow: map[uint32]*mapping{},
		snat:   map[string]*snatRef{},
		spent:  map[string]*mapping{},
	}
	nopts := []nftables.ConnOption{nftables.AsLasting()}
	if opts.NetNS != 0 {
		nopts = append(nopts, nftables.WithNetNSFd(opts.NetNS))
	}
	nft, err := nftables.New(nopts...)
	if err != nil {
		return nil, missing("nftables netlink socket", err)
	}
	t.nft = nft
	fail := func(err error) (*Table, error) {
		t.closeConns()
		return nil, err
	}
	adopted := false
	if opts.Adopt {
		if adopted, err = t.adopt(); err != nil {
			return fail(err)
		}
	}
	if !adopted {
		if err := t.create(); err != nil {
			return fail(err)
		}
	}
	// Written only when off: under systemd's ProtectKernelTunables
	// /proc/sys is read-only, and the package sets it in sysctl.d.
	if v, err := sysctl(opts.NetNS, "net/netfilter/nf_conntrack_acct"); err != nil || v != "1" {
		if err := sysctlSet(opts.NetNS, "net/netfilter/nf_conntrack_acct", "1"); err != nil {
			return fail(fmt.Errorf("nat: conntrack accounting (byte counts) is off and cannot be turned on: set net.netfilter.nf_conntrack_acct = 1 (sysctl.d): %w", err))
		}
	}
	// Events: 0 turns them off for everyone; 1 (all) and 2 (for
	// listeners, the default since Linux 5.19) both serve the watcher.
	if v, err := sysctl(opts.NetNS, "net/netfilter/nf_conntrack_events"); err == nil && v == "0" {
		if err := sysctlSet(opts.NetNS, "net/netfilter/nf_conntrack_events", "1"); err != nil {
			return fail(fmt.Errorf("nat: conntrack events (one-shot mappings): %w", err))
		}
		t.log.Info("conntrack events were off: net.netfilter.nf_conntrack_events=1")
	}
	if t.ct, err = conntrack.Dial(&netlink.Config{NetNS: opts.NetNS}); err != nil {
		return fail(missing("conntrack netlink socket", err))
	}
	if !adopted {
		// Connections a crashed process left: their mapped flows would
		// go on forwarding without anyone to cut them.
		f := conntrack.NewFilter().Mark(opts.Mark).MarkMask(opts.Mark)
		if err := t.ct.FlushFilter(f); err != nil {
			return fail(fmt.Errorf("nat: delete conntrack entries with mark %#x: %w", opts.Mark, err))
		}
	}
	w, err := t.listen()
	if err != nil {
		return fail(err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.cancel, t.done, t.q, t.kick = cancel, make(chan struct{}), newQueue(), make(chan error)
	go t.watch(wctx, w)
	return t, nil
}

// missing wraps a netlink error into one that names the capability or
// kernel feature behind it.
func missing(what string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("nat: %s: needs CAP_NET_ADMIN: %w", what, err)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("nat: %s: the kernel lacks nf_tables, nf_nat or nf_conntrack (modules nf_tables, nft_nat, nft_ct, nf_conntrack_netlink): %w", what, err)
	}
	return fmt.Errorf("nat: %s: %w", what, err)
}

// create writes the whole table in one batch, the netlink form of
//
//	nft -f - <<<'table inet T; delete table inet T; table inet T { ... }'
//
// NEWTABLE without NLM_F_EXCL succeeds whether or not the table exists,
// so the DELTABLE after it always has something to delete, and the
// kernel applies the batch as one transaction or not at all: nothing
// stale survives, and no moment exists with half a table.
func (t *Table) create() error {
	t.nftMu.Lock()
	defer t.nftMu.Unlock()
	c := t.nft
	c.AddTable(t.tbl)
	c.DelTable(t.tbl)
	c.AddTable(t.tbl)
	pre, out, post := chains(t.tbl)
	for _, ch := range []*nftables.Chain{pre, out, post} {
		c.AddChain(ch)
	}
	for _, v4 := range []bool{true, false} {
		dnat, snat := setSpecs(v4)
		for _, s := range append(dnat, snat...) {
			set := newSet(t.tbl, s)
			if err := c.AddSet(set, nil); err != nil {
				return fmt.Errorf("nat: map %s: %w", s.name, err)
			}
			t.sets[s.name] = set
		}
		for _, s := range dnat {
			for _, ch := range []*nftables.Chain{pre, out} {
				c.AddRule(&nftables.Rule{Table: t.tbl, Chain: ch, Exprs: dnatExprs(v4, s.withPort, t.sets[s.name], t.opts.Mark)})
			}
		}
		for _, s := range snat {
			c.AddRule(&nftables.Rule{Table: t.tbl, Chain: post, Exprs: snatExprs(v4, s.withPort, s.addrOnly, t.sets[s.name], t.opts.Mark)})
		}
	}
	if err := t.addFlowtable(c); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		what := "create table inet " + t.opts.Table
		if len(t.opts.Flowtable) > 0 {
			what += " with a flowtable on " + strings.Join(t.opts.Flowtable, ", ") + " (needs nf_flow_table, nft_flow_offload)"
		}
		return missing(what, err)
	}
	return nil
}

// adopt takes over an existing table: its maps must all be there.
// false means there is none (Open creates it).
func (t *Table) adopt() (bool, error) {
	t.nftMu.Lock()
	defer t.nftMu.Unlock()
	if _, err := t.nft.ListTableOfFamily(t.opts.Table, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, missing("list table inet "+t.opts.Table, err)
	}
	have, err := t.nft.GetSets(t.tbl)
	if err != nil {
		return false, missing("list maps of inet "+t.opts.Table, err)
	}
	byName := map[string]*nftables.Set{}
	for _, s := range have {
		byName[s.Name] = s
	}
	for _, v4 := range []bool{true, false} {
		dnat, snat := setSpecs(v4)
		for _, s := range append(dnat, snat...) {
			if byName[s.name] == nil {
				return false, fmt.Errorf("nat: table inet %s exists without map %s: not one this version can adopt (remove it, or start without adopting)", t.opts.Table, s.name)
			}
			t.sets[s.name] = newSet(t.tbl, s)
		}
	}
	return true, nil
}

// Close stops the watcher; with remove it also deletes the table and
// the conntrack entries of algd's connections (the [ipvs]
// cleanup_on_exit semantics: nothing algd made stays). Without remove
// (a hand-over to a new process that adopted the table) both stay.
func (t *Table) Close(remove bool) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	<-t.done
	var errs []error
	if remove {
		t.nftMu.Lock()
		t.nft.AddTable(t.tbl)
		t.nft.DelTable(t.tbl)
		if err := t.nft.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("nat: delete table inet %s: %w", t.opts.Table, err))
		}
		t.nftMu.Unlock()
		f := conntrack.NewFilter().Mark(t.opts.Mark).MarkMask(t.opts.Mark)
		if err := t.ct.FlushFilter(f); err != nil {
			errs = append(errs, fmt.Errorf("nat: delete conntrack entries with mark %#x: %w", t.opts.Mark, err))
		}
	}
	t.closeConns()
	return errors.Join(errs...)
}

func (t *Table) closeConns() {
	if t.ct != nil {
		t.ct.Close()
	}
	if t.nft != nil {
		t.nft.CloseLasting()
	}
}
