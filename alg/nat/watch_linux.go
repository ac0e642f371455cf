package nat

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/algd/algd/alg"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TCP states of conntrack (enum tcp_conntrack in the kernel's
// nf_conntrack_tcp.h).
const (
	tcpTimeWait = 7 // both FINs seen and acknowledged
	tcpClose    = 8 // reset
)

// watcher is one subscription to conntrack's NEW, UPDATE and DESTROY
// events, filtered in the kernel to connections with algd's mark.
type watcher struct {
	conn *netlink.Conn
	ev   chan conntrack.Event
	errs chan error
	quit chan struct{}
	once sync.Once
}

// eventBuffer is the event socket's receive buffer: a burst of new
// connections on the director must not overflow it (ENOBUFS makes the
// watcher resubscribe and resynchronise from a dump).
const eventBuffer = 8 << 20

// ctaMark is conntrack's netlink attribute for the ct mark (CTA_MARK).
const ctaMark = 8

// markFilter is a socket filter passing only conntrack events whose ct
// mark carries every bit of mark: the kernel then does not queue (nor
// algd decode) the events of the director's other connections. It finds
// the CTA_MARK attribute after the netlink and nfnetlink headers (16 + 4
// bytes) with the netlink attribute extension (SKF_AD_NLATTR; an event
// without it, ct mark 0, is dropped) and tests the big-endian value.
func markFilter(mark uint32) ([]bpf.RawInstruction, error) {
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadConstant{Dst: bpf.RegX, Val: ctaMark},
		bpf.LoadConstant{Dst: bpf.RegA, Val: 16 + 4},
		bpf.LoadExtension{Num: bpf.ExtNetlinkAttr},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 5},
		bpf.TAX{},
		bpf.LoadIndirect{Off: 4, Size: 4},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mark},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: mark, SkipFalse: 1},
		bpf.RetConstant{Val: 0xffffffff},
		bpf.RetConstant{Val: 0},
	})
}

func (t *Table) listen() (*watcher, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: t.opts.NetNS})
	if err != nil {
		return nil, missing("conntrack event socket", err)
	}
	if err := c.SetReadBuffer(eventBuffer); err != nil {
		t.log.Debug("conntrack event socket buffer", "err", err)
	}
	// The filter before the groups: no unfiltered event is queued.
	// Without it (no BPF) every event is decoded and event() sorts them.
	if prog, err := markFilter(t.opts.Mark); err != nil {
		t.log.Debug("conntrack event filter", "err", err)
	} else if err := c.SetBPF(prog); err != nil {
		t.log.Debug("conntrack event filter", "err", err)
	}
	for _, g := range []netfilter.NetlinkGroup{netfilter.GroupCTNew, netfilter.GroupCTUpdate, netfilter.GroupCTDestroy} {
		if err := c.JoinGroup(uint32(g)); err != nil {
			c.Close()
			return nil, missing("conntrack events", err)
		}
	}
	w := &watcher{conn: c, ev: make(chan conntrack.Event, 1024), errs: make(chan error, 1), quit: make(chan struct{})}
	// One receiver: events of one connection stay in order.
	go w.receive()
	return w, nil
}

// receive decodes events until the socket fails (reported on errs) or
// the watcher is closed.
func (w *watcher) receive() {
	for {
		msgs, err := w.conn.Receive()
		if err != nil {
			select {
			case <-w.quit:
			case w.errs <- fmt.Errorf("conntrack events: %w", err):
			}
			return
		}
		for _, m := range msgs {
			var ev conntrack.Event
			if ev.Unmarshal(m) != nil {
				continue
			}
			select {
			case w.ev <- ev:
			case <-w.quit:
				return
			}
		}
	}
}

// close ends the subscription and its receiver.
func (w *watcher) close() {
	w.once.Do(func() {
		close(w.quit)
		w.conn.Close()
	})
}

// watch handles events until ctx ends; a broken subscription (socket
// overflow) is replaced and the state resynchronised from a dump of
// algd's connections.
func (t *Table) watch(ctx context.Context, w *watcher) {
	q := t.q
	var wg sync.WaitGroup
	wg.Go(q.run)
	defer func() {
		w.close()
		q.close()
		wg.Wait()
		close(t.done)
	}()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case ev := <-w.ev:
			t.event(ev)
			continue
		case err = <-w.errs:
		case err = <-t.kick:
		}
		t.log.Warn("conntrack events lost; resubscribing", "err", err)
		if t.lost != nil {
			t.lost()
		}
		// The new subscription first: with nf_conntrack_events=2 (the
		// default) a connection made while nobody listens never has
		// events at all.
		for {
			nw, err := t.listen()
			if err == nil {
				old := w
				w = nw
				old.close()
				break
			}
			t.log.Error("conntrack events", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		t.resync()
	}
}

// resync treats every live connection of algd as new (known ones are
// ignored), after events were lost.
func (t *Table) resync() {
	f := conntrack.NewFilter().Mark(t.opts.Mark).MarkMask(t.opts.Mark)
	flows, err := t.ct.DumpFilter(f, nil)
	if err != nil {
		t.log.Error("conntrack dump", "err", err)
		return
	}
	seen := map[uint32]bool{}
	for i := range flows {
		f := &flows[i]
		seen[f.ID] = true
		t.event(conntrack.Event{Type: conntrack.EventNew, Flow: f})
		if f.ProtoInfo.TCP != nil {
			t.event(conntrack.Event{Type: conntrack.EventUpdate, Flow: f})
		}
	}
	// Connections that went while nobody listened: their last counters
	// are lost.
	t.mu.Lock()
	var gone []conntrack.Flow
	for id, x := range t.byFlow {
		if !seen[id] {
			gone = append(gone, x.flows[id])
		}
	}
	t.mu.Unlock()
	for i := range gone {
		t.log.Warn("mapped connection ended while conntrack events were lost; its counters are not known", "orig", gone[i].TupleOrig.String())
		t.ended(&gone[i], false, true)
	}
}

func (t *Table) event(ev conntrack.Event) {
	f := ev.Flow
	if f == nil || f.Mark&t.opts.Mark != t.opts.Mark {
		return
	}
	switch ev.Type {
	case conntrack.EventNew:
		t.connected(f)
	case conntrack.EventUpdate:
		if f.ProtoInfo.TCP == nil {
			return
		}
		switch f.ProtoInfo.TCP.State {
		case tcpTimeWait:
			t.ended(f, true, false)
		case tcpClose:
			t.ended(f, false, false)
		}
	case conntrack.EventDestroy:
		fin := f.ProtoInfo.TCP != nil && f.ProtoInfo.TCP.State == tcpTimeWait
		t.ended(f, fin, true)
	}
}

// connected attributes a new connection to its mapping: one-shot
// mappings lose their elements (the next connection reaches whatever
// listens on Dst), and a second connection that slipped in before is
// deleted.
func (t *Table) connected(f *conntrack.Flow) {
	o := f.TupleOrig
	src := netip.AddrPortFrom(o.IP.SourceAddress, o.Proto.SourcePort)
	dst := netip.AddrPortFrom(o.IP.DestinationAddress, o.Proto.DestinationPort)
	t.mu.Lock()
	if t.byFlow[f.ID] != nil {
		t.mu.Unlock()
		return
	}
	kp, k := keyOf(o.Proto.Protocol, src, dst, true), keyOf(o.Proto.Protocol, src, dst, false)
	x := t.byKey[kp]
	if x == nil {
		x = t.byKey[k]
	}
	if x == nil || x.ended || (x.connected && !x.m.Persistent) {
		spent := t.spent[kp] != nil || t.spent[k] != nil
		t.mu.Unlock()
		if x != nil || spent {
			// A second connection that took the element before it
			// went: one-shot means one. (Connections of mappings this
			// Table does not know, such as those of a process it took
			// over from, are left alone.)
			t.log.Info("second connection on a one-shot mapping deleted", "from", src.String(), "to", dst.String())
			if err := t.ct.Delete(*f); err != nil && !errors.Is(err, unix.ENOENT) {
				t.log.Warn("second connection on a one-shot mapping not deleted", "from", src.String(), "to", dst.String(), "err", err)
			}
		}
		return
	}
	first := !x.connected
	x.connected = true
	x.flows[f.ID] = *f
	t.byFlow[f.ID] = x
	if !x.m.Persistent {
		// Until its elements are surely gone, a connection matching it
		// is a second one.
		t.spent[x.key] = x
		time.AfterFunc(expireGrace, func() {
			t.mu.Lock()
			if t.spent[x.key] == x {
				delete(t.spent, x.key)
			}
			t.mu.Unlock()
		})
	}
	t.mu.Unlock()
	if !x.m.Persistent {
		if err := t.unmap(x); err != nil {
			t.log.Warn("one-shot mapping not removed", "from", src, "to", dst, "err", err)
		}
	}
	if first && x.m.Events.Connected != nil {
		t.deliver(func() { x.m.Events.Connected(src, dst) })
	}
}

// ended closes a connection's account: at TIME_WAIT (fin), a reset or
// its conntrack entry's end (destroy: f carries the final counters).
func (t *Table) ended(f *conntrack.Flow, fin, destroy bool) {
	t.mu.Lock()
	x := t.byFlow[f.ID]
	if x == nil {
		t.mu.Unlock()
		return
	}
	known := x.flows[f.ID]
	t.mu.Unlock()
	final := *f
	if !destroy {
		// UPDATE events carry no counters: read them.
		g, err := t.ct.Get(known)
		if err != nil {
			t.log.Debug("conntrack get at close", "err", err)
		} else {
			final = g
		}
	}
	t.log.Debug("mapped connection ended", "fin", fin, "destroy", destroy, "orig", f.TupleOrig.String(),
		"orig_bytes", final.CountersOrig.Bytes, "reply_bytes", final.CountersReply.Bytes, "tcp", tcpInfo(final.ProtoInfo.TCP))
	t.mu.Lock()
	if t.byFlow[f.ID] != x {
		t.mu.Unlock()
		return
	}
	delete(t.byFlow, f.ID)
	delete(x.flows, f.ID)
	add(&x.sum, final)
	if fin && !x.cut && !x.m.Persistent {
		x.closedFIN = true
	}
	done := !x.ended && len(x.flows) == 0 && (!x.m.Persistent || !x.installed)
	if done {
		x.ended = true
	}
	sum := x.sum
	sum.Closed = x.closedFIN
	t.mu.Unlock()
	if done && x.m.Events.Ended != nil {
		t.deliver(func() { x.m.Events.Ended(sum) })
	}
}

// deliver runs fn on the Table's one callback goroutine, so a slow
// owner never holds up the watcher.
func (t *Table) deliver(fn func()) { t.q.push(fn) }

// queue is an unbounded FIFO of callbacks run by one goroutine.
type queue struct {
	mu     sync.Mutex
	fns    []func()
	wake   chan struct{}
	closed bool
}

func newQueue() *queue { return &queue{wake: make(chan struct{}, 1)} }

func (q *queue) push(fn func()) {
	q.mu.Lock()
	if !q.closed {
		q.fns = append(q.fns, fn)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run calls the queued callbacks until close, then the ones left.
func (q *queue) run() {
	for {
		<-q.wake
		for {
			q.mu.Lock()
			fns, closed := q.fns, q.closed
			q.fns = nil
			q.mu.Unlock()
			for _, fn := range fns {
				fn()
			}
			if closed && len(fns) == 0 {
				return
			}
			if len(fns) == 0 {
				break
			}
		}
	}
}

var _ alg.Kernel = (*Table)(nil)

// tcpInfo describes conntrack's TCP tracking state of a connection for
// the debug log: window scales and flags seen in each direction.
func tcpInfo(p *conntrack.ProtoInfoTCP) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("state=%d wscale=%d/%d flags=%#04x/%#04x", p.State, p.OriginalWindowScale, p.ReplyWindowScale, p.OriginalFlags, p.ReplyFlags)
}
