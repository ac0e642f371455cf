package nat

import (
	"errors"

	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/algd/algd/alg"
)

// unshadow deletes the conntrack entry, if one exists, that packets from
// m.From to m.Dst already belong to without algd's mark: conntrack looks
// a packet up before any NAT rule runs, so such an entry would carry the
// flow past the persistent mapping just installed, to the director's own
// sockets, for as long as packets keep it alive. RTSP media leaves such
// entries: a realserver's last datagrams after a TEARDOWN, sent before
// it has read it, reach the director's backend media port once the
// stream's flows are cut, and algd's own relay sends from its media
// ports; the next stream on the same ports would find them. The lookup
// matches either direction of an entry. An entry carrying the mark is
// one of algd's mappings' and is left alone.
func (t *Table) unshadow(m alg.Mapping) {
	if m.From.Port() == 0 {
		return // no one tuple to look up
	}
	f := conntrack.Flow{TupleOrig: conntrack.Tuple{
		IP:    conntrack.IPTuple{SourceAddress: m.From.Addr(), DestinationAddress: m.Dst.Addr()},
		Proto: conntrack.ProtoTuple{Protocol: l4proto(m.Proto), SourcePort: m.From.Port(), DestinationPort: m.Dst.Port()},
	}}
	g, err := t.ct.Get(f)
	switch {
	case errors.Is(err, unix.ENOENT):
		return
	case err != nil:
		t.log.Debug("conntrack get before a persistent mapping", "from", m.From, "dst", m.Dst, "err", err)
		return
	case g.Mark&t.opts.Mark != 0:
		return
	}
	if err := t.ct.Delete(g); err != nil && !errors.Is(err, unix.ENOENT) {
		t.log.Warn("stale conntrack entry not deleted: it shadows a persistent mapping until it times out",
			"from", m.From, "dst", m.Dst, "err", err)
		return
	}
	t.log.Info("stale conntrack entry deleted: it shadowed a persistent mapping", "from", m.From, "dst", m.Dst,
		"orig", g.TupleOrig.String())
}
