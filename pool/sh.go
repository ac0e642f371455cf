package pool

import (
	"encoding/binary"
	"net/netip"
)

// Source hashing as Linux IPVS does it (net/netfilter/ipvs/ip_vs_sh.c,
// current kernels), so that a client lands on the same realserver in algd
// as in an IPVS fwmark service with the same members, weights and states.
const (
	// shTabBits is CONFIG_IP_VS_SH_TAB_BITS, default 8.
	shTabBits = 8
	// shTabSize is IP_VS_SH_TAB_SIZE: 256 buckets.
	shTabSize = 1 << shTabBits
	// shTabMask is IP_VS_SH_TAB_MASK.
	shTabMask = shTabSize - 1
	// goldenRatio32 is GOLDEN_RATIO_32 from include/linux/hash.h, the
	// multiplier of hash_32 since Linux 4.7.
	goldenRatio32 = 0x61C88647
)

// hash32 is the kernel's hash_32(val, bits): multiply by the golden ratio
// modulo 2^32 and keep the top bits, which are the best mixed.
func hash32(val uint32, bits uint) uint32 {
	return val * goldenRatio32 >> (32 - bits)
}

// shFold is ntohl(addr_fold): the IPv4 address as a host-order integer, or
// the XOR of an IPv6 address's four 32-bit words (XOR commutes with the
// byte swap, so folding the big-endian words is the same).
func shFold(a netip.Addr) uint32 {
	switch {
	case a.Is4():
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	case a.Is6():
		b := a.As16()
		return binary.BigEndian.Uint32(b[0:4]) ^ binary.BigEndian.Uint32(b[4:8]) ^
			binary.BigEndian.Uint32(b[8:12]) ^ binary.BigEndian.Uint32(b[12:16])
	}
	return 0
}

// shHashKey is ip_vs_sh_hashkey with offset 0: hash_32(ntohs(port) +
// ntohl(addr_fold), 8). The port is 0 because algd, like an IPVS service
// without the sh-port flag, hashes the source address only. Callers pass
// the client address unmapped (an IPv4 client is hashed as IPv4).
func shHashKey(client netip.Addr) uint32 {
	const port = 0
	return hash32(port+shFold(client), shTabBits) & shTabMask
}

// sourceHash is IPVS sh with the sh-fallback flag always on.
//
// The table (ip_vs_sh_reassign) is filled by walking the realservers
// cyclically in the kernel's list order, which is reverse insertion order
// (list_add_rcu puts a new destination at the head): algd's configuration
// order reversed, as pool/ipvs adds destinations in configuration order.
// Each realserver takes max(weight, 1) consecutive buckets; the kernel does
// not cap the weight, so a weight of 256 or more fills the rest of the
// table. A down realserver is built in with weight 0 (one bucket), as if
// health had set its IPVS weight to 0.
//
// Pick takes the client's bucket. When that realserver is down, drained or
// excluded, it falls back like ip_vs_sh_get_fallback: it probes bucket
// (2*h + i) mod 256 for i = 0..255, where h is the client's bucket (the
// kernel adds the hash to an offset that already starts at the hash), and
// takes the first realserver that may take sessions. Without fallback IPVS
// would refuse the connection; algd would rather serve it.
type sourceHash struct {
	table [shTabSize]*Realserver
}

func (s *sourceHash) rebuild(rs []*Realserver) {
	n := len(rs)
	if n == 0 {
		s.table = [shTabSize]*Realserver{}
		return
	}
	d, taken := n-1, 0 // walk from the end of the configuration
	for i := range s.table {
		r := rs[d]
		s.table[i] = r
		// Don't move to the next realserver until its weight is filled.
		taken++
		if taken >= effectiveWeight(r) {
			d, taken = d-1, 0
			if d < 0 {
				d = n - 1
			}
		}
	}
}

func (s *sourceHash) pick(k key, _ []*Realserver, ex exclusion) *Realserver {
	h := shHashKey(k.client)
	r := s.table[h]
	if r == nil {
		return nil
	}
	if ex.ok(r) {
		return r
	}
	for i := uint32(0); i < shTabSize; i++ {
		roffset := (i + h) % shTabSize
		r = s.table[(roffset+h)&shTabMask]
		if ex.ok(r) {
			return r
		}
	}
	return nil
}
