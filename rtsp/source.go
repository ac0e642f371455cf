package rtsp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/pool"
)

// mediaSource is where a UDP stream's media from the realserver is
// accepted from and where algd sends the client's datagrams for it.
type mediaSource struct {
	// peer is the address the backend leg sends to and accepts from: the
	// realserver's control address, or the source= it announced when
	// algd accepts it.
	peer netip.Addr
	// also are the further addresses accepted (on the same ports): the
	// control address when peer is the announced source, and the pool's
	// media_sources.
	also []netip.Prefix
	// refused says algd did not accept the source= announced, and why.
	refused   bool
	announced string
	why       string
}

// mediaSources decides where the media of a stream of realserver rs, a
// member of pl, is accepted from. announced is the value of the
// Transport's source= parameter of the realserver's SETUP answer ("" when
// absent; RFC 2326 §12.39). It is accepted when it is the address of a
// member of the pool (a realserver sending from another of its pool
// addresses) or lies in the pool's media_sources: the pool's own
// addresses are trusted, a source= naming any other host is not, since
// whoever controls a realserver's answers could otherwise aim algd's
// relay at a third party or let it inject media into the client's
// stream. Media from the pool's media_sources is accepted whether
// announced or not (servers with wildcard media sockets do not announce
// the address the kernel sends from).
func mediaSources(rs netip.Addr, pl *pool.Pool, announced string, hasAnnounced bool) mediaSource {
	ms := mediaSource{peer: rs, announced: announced}
	var allowed []netip.Prefix
	if pl != nil {
		allowed = pl.MediaSources()
	}
	if !hasAnnounced {
		ms.also = allowed
		return ms
	}
	a, err := netip.ParseAddr(announced)
	a = a.Unmap()
	switch {
	case err != nil || a.Zone() != "":
		ms.refused, ms.why = true, "source= is not an IP address"
	case a == rs:
	case isMember(pl, a) || inPrefixes(allowed, a):
		ms.peer = a
		ms.also = append([]netip.Prefix{netip.PrefixFrom(rs, rs.BitLen())}, allowed...)
		return ms
	case a.IsUnspecified() || a.IsMulticast():
		ms.refused, ms.why = true, "source= is not a unicast address"
	default:
		ms.refused, ms.why = true, fmt.Sprintf("source= is neither a realserver of pool %q nor in its media_sources", poolName(pl))
	}
	ms.also = allowed
	return ms
}

// isMember reports whether a is the address of a realserver of pl.
func isMember(pl *pool.Pool, a netip.Addr) bool {
	if pl == nil {
		return false
	}
	for _, r := range pl.Realservers() {
		if r.Addr().Addr().Unmap() == a {
			return true
		}
	}
	return false
}

// inPrefixes reports whether a lies in one of ps.
func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func poolName(pl *pool.Pool) string {
	if pl == nil {
		return ""
	}
	return pl.Name()
}

// dropLogger returns the OnDrop of a stream's relay: one line per stream
// and reason (the relay tells each reason once), Warn for what the
// realserver sends, Info for the client's side and for sends that
// failed. A datagram from a source= that the SETUP already reported as
// refused adds no line: that one said it.
func dropLogger(log *slog.Logger, ms mediaSource) func(alg.Drop) {
	return func(d alg.Drop) {
		if d.Reason == alg.DropSource && !d.Up && ms.refused {
			return
		}
		side, lvl := "realserver", slog.LevelWarn
		if d.Up {
			side = "client"
		}
		if d.Up || d.Reason == alg.DropUnsendable {
			lvl = slog.LevelInfo // a client's doing, or a client gone
		}
		sock := "rtp"
		if d.RTCP {
			sock = "rtcp"
		}
		args := []any{"reason", d.Reason.String(), "side", side, "socket", sock}
		if d.From.IsValid() {
			args = append(args, "from", d.From.String())
		}
		if d.Reason == alg.DropUnsendable {
			args = append(args, "to", d.To.String())
		}
		if d.Reason == alg.DropSource && !d.Up {
			args = append(args, "accepted", ms.peer.String(),
				"hint", "if that address is the realserver's, add it to the pool's media_sources")
		}
		log.Log(context.Background(), lvl, "media dropped (logged once per stream and reason, then only counted)", args...)
	}
}
