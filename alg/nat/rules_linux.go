package nat

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Registers, as nft allocates them for "dnat ip to KEY map @m", so that
// nft list shows the rules as nft statements: the key is loaded from
// register 1 on (its first 4-byte word; the next words are the 4-byte
// registers NFT_REG32_01...), the lookup writes the value over it (the
// address from register 1, the port in the word after it: NFT_REG32_01
// for IPv4, NFT_REG_2 after a 16-byte IPv6 address), and the ct mark is
// computed in NFT_REG32_11, beyond the longest key (44 bytes).
const (
	regKey  = unix.NFT_REG_1
	regMark = unix.NFT_REG32_00 + 11
)

// word is the register of the key's 4-byte word i.
func word(i uint32) uint32 {
	if i == 0 {
		return regKey
	}
	return unix.NFT_REG32_00 + i
}

func regPort(v4 bool) uint32 {
	if v4 {
		return unix.NFT_REG32_01
	}
	return unix.NFT_REG_2
}

// Set types (elemKey, natData).
func keyType(v4, withPort bool) nftables.SetDatatype {
	a := nftables.TypeIP6Addr
	if v4 {
		a = nftables.TypeIPAddr
	}
	if withPort {
		return nftables.MustConcatSetType(nftables.TypeInetProto, a, nftables.TypeInetService, a, nftables.TypeInetService)
	}
	return nftables.MustConcatSetType(nftables.TypeInetProto, a, a, nftables.TypeInetService)
}

func dataType(v4, addrOnly bool) nftables.SetDatatype {
	a := nftables.TypeIP6Addr
	if v4 {
		a = nftables.TypeIPAddr
	}
	if addrOnly {
		return a
	}
	return nftables.MustConcatSetType(a, nftables.TypeInetService)
}

// keyExprs load the packet's tuple in the order of elemKey:
//
//	meta l4proto . ip saddr [. th sport] . ip daddr . th dport
//
// the addresses at offsets 12 and 16 of the IPv4 header (8 and 24 of
// IPv6), the ports at offsets 0 and 2 of the transport header.
func keyExprs(v4, withPort bool) []expr.Any {
	alen, src, dst := uint32(16), uint32(8), uint32(24)
	if v4 {
		alen, src, dst = 4, 12, 16
	}
	var i uint32
	next := func(n uint32) uint32 { r := word(i); i += (n + 3) / 4; return r }
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next(1)},
		&expr.Payload{DestRegister: next(alen), Base: expr.PayloadBaseNetworkHeader, Offset: src, Len: alen},
	}
	if withPort {
		e = append(e, &expr.Payload{DestRegister: next(2), Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2})
	}
	return append(e,
		&expr.Payload{DestRegister: next(alen), Base: expr.PayloadBaseNetworkHeader, Offset: dst, Len: alen},
		&expr.Payload{DestRegister: next(2), Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	)
}

// familyExprs match packets of one family (meta nfproto ipv4|ipv6).
func familyExprs(v4 bool) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: regKey},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regKey, Data: []byte{byte(natFamily(v4))}},
	}
}

func natFamily(v4 bool) uint32 {
	if v4 {
		return unix.NFPROTO_IPV4
	}
	return unix.NFPROTO_IPV6
}

// dnatExprs is the fixed DNAT rule of one family and map, as nft lists
// it:
//
//	meta nfproto ipv4 ct mark set ct mark | MARK dnat ip to KEY map @dnat4
//
// but with the mark set only when the lookup found an element: the key,
// the lookup writing address . port over it, ct mark |= MARK (the ct
// mark is host-order in its register), the nat expression.
func dnatExprs(v4, withPort bool, set *nftables.Set, mark uint32) []expr.Any {
	e := append(familyExprs(v4), keyExprs(v4, withPort)...)
	return append(e,
		&expr.Lookup{SourceRegister: regKey, DestRegister: regKey, IsDestRegSet: true, SetName: set.Name, SetID: set.ID},
		&expr.Ct{Key: expr.CtKeyMARK, Register: regMark},
		&expr.Bitwise{SourceRegister: regMark, DestRegister: regMark, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^mark), Xor: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: regMark, SourceRegister: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: natFamily(v4), RegAddrMin: regKey, RegProtoMin: regPort(v4)},
	)
}

// markedExprs match connections carrying mark (ct mark & MARK == MARK).
func markedExprs(mark uint32) []expr.Any {
	m := binaryutil.NativeEndian.PutUint32(mark)
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: regKey},
		&expr.Bitwise{SourceRegister: regKey, DestRegister: regKey, Len: 4, Mask: m, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regKey, Data: m},
	}
}

// snatExprs is the fixed SNAT rule of one family and map:
//
//	meta nfproto ipv4 ct mark & MARK == MARK snat ip to KEY map @snat4
//
// keyed on the tuple after DNAT; addrOnly maps give the address alone
// (the source port is kept).
func snatExprs(v4, withPort, addrOnly bool, set *nftables.Set, mark uint32) []expr.Any {
	e := append(familyExprs(v4), markedExprs(mark)...)
	e = append(e, keyExprs(v4, withPort)...)
	n := &expr.NAT{Type: expr.NATTypeSourceNAT, Family: natFamily(v4), RegAddrMin: regKey}
	if !addrOnly {
		n.RegProtoMin = regPort(v4)
	}
	return append(e,
		&expr.Lookup{SourceRegister: regKey, DestRegister: regKey, IsDestRegSet: true, SetName: set.Name, SetID: set.ID},
		n,
	)
}
