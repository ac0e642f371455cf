package nat

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/algd/algd/alg"
)

// Layer 4 protocol numbers (IANA), as conntrack and the keys hold them.
const (
	protoTCP = 6
	protoUDP = 17
)

func l4proto(t alg.Transport) uint8 {
	if t == alg.UDP {
		return protoUDP
	}
	return protoTCP
}

// reg is a value padded to a 4-byte register, as concatenations are.
func reg(b ...byte) []byte {
	out := make([]byte, 4)
	copy(out, b)
	return out
}

func port4(p uint16) []byte { return reg(byte(p>>8), byte(p)) }

// elemKey is a map element's key: a connection's tuple in the order
// keyExprs loads it from the packet,
//
//	meta l4proto . ip saddr [. th sport] . ip daddr . th dport
//
// (ip6 for IPv6), with the source port only when withPort (the *_port
// maps). DNAT elements are keyed on From and Dst (the tuple as the
// client sends it), SNAT elements on From and To (the tuple after DNAT,
// as postrouting sees it).
func elemKey(proto uint8, src, dst netip.AddrPort, withPort bool) []byte {
	k := make([]byte, 0, 44)
	k = append(k, reg(proto)...)
	k = append(k, src.Addr().AsSlice()...)
	if withPort {
		k = append(k, port4(src.Port())...)
	}
	k = append(k, dst.Addr().AsSlice()...)
	return append(k, port4(dst.Port())...)
}

// natData is a DNAT or SNAT element's value: address . port.
func natData(ap netip.AddrPort) []byte {
	return append(ap.Addr().AsSlice(), port4(ap.Port())...)
}

// normal unmaps IPv4-mapped IPv6 addresses, as the packets carry them.
func normal(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// check normalises m and says what makes it impossible to install.
func check(m alg.Mapping) (alg.Mapping, error) {
	m.From, m.Dst, m.To, m.Source = normal(m.From), normal(m.Dst), normal(m.To), normal(m.Source)
	switch {
	case !m.From.Addr().IsValid():
		return m, fmt.Errorf("nat: mapping without a From address")
	case !m.Dst.Addr().IsValid() || m.Dst.Port() == 0:
		return m, fmt.Errorf("nat: mapping without a Dst address and port")
	case !m.To.Addr().IsValid() || m.To.Port() == 0:
		return m, fmt.Errorf("nat: mapping without a To address and port")
	case m.From.Addr().Is4() != m.Dst.Addr().Is4():
		return m, fmt.Errorf("nat: From %s and Dst %s are of different address families", m.From, m.Dst)
	case m.To.Addr().Is4() != m.Dst.Addr().Is4():
		return m, fmt.Errorf("nat: Dst %s and To %s are of different address families (NAT does not translate families)", m.Dst, m.To)
	case m.Source.Addr().IsValid() && m.Source.Addr().Is4() != m.To.Addr().Is4():
		return m, fmt.Errorf("nat: To %s and Source %s are of different address families", m.To, m.Source)
	case m.Timeout < 0:
		return m, fmt.Errorf("nat: negative timeout %v", m.Timeout)
	}
	if m.Timeout == 0 && !m.Persistent {
		m.Timeout = DefaultTimeout
	}
	// Element timeouts are in milliseconds; less would mean none.
	if m.Timeout > 0 && m.Timeout < time.Millisecond {
		m.Timeout = time.Millisecond
	}
	return m, nil
}

// mapNames names the maps of one address family: the DNAT maps (keyed
// without and with the source port) and the SNAT maps, whose values are
// an address and port or (the *_addr maps, Source port 0) an address
// alone, the source port kept.
type mapNames struct {
	dnat, dnatPort                      string
	snat, snatAddr, snatPort, snatPortA string
}

func namesOf(v4 bool) mapNames {
	f := "6"
	if v4 {
		f = "4"
	}
	return mapNames{
		dnat: "dnat" + f, dnatPort: "dnat" + f + "_port",
		snat: "snat" + f, snatAddr: "snat" + f + "_addr",
		snatPort: "snat" + f + "_port", snatPortA: "snat" + f + "_port_addr",
	}
}

// elems are the map elements of one mapping: set name → key and value.
type elem struct {
	set      string
	key, val []byte
}

// elemsOf returns m's elements (m checked): its DNAT element and, when
// m has a Source, its SNAT element.
func elemsOf(m alg.Mapping) []elem {
	n := namesOf(m.Dst.Addr().Is4())
	withPort := m.From.Port() != 0
	proto := l4proto(m.Proto)
	d, s, sa := n.dnat, n.snat, n.snatAddr
	if withPort {
		d, s, sa = n.dnatPort, n.snatPort, n.snatPortA
	}
	out := []elem{{set: d, key: elemKey(proto, m.From, m.Dst, withPort), val: natData(m.To)}}
	skey := elemKey(proto, m.From, m.To, withPort)
	switch {
	case !m.Source.Addr().IsValid():
	case m.Source.Port() == 0:
		out = append(out, elem{set: sa, key: skey, val: m.Source.Addr().AsSlice()})
	default:
		out = append(out, elem{set: s, key: skey, val: natData(m.Source)})
	}
	return out
}

// keyOf is the map key (as a string) of a connection's original tuple.
func keyOf(proto uint8, src, dst netip.AddrPort, withPort bool) string {
	return string(elemKey(proto, normal(src), normal(dst), withPort))
}
