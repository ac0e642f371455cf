package pool

import (
	"encoding/binary"
	"hash/fnv"
	"math"
)

// rendezvous is scheduler "hrw": weighted rendezvous (highest random
// weight) hashing of the session's key, the FTP user name when the
// listener routes by user and the client address otherwise. Every
// realserver that may take the session gets a score from a hash of the key
// and its own address, scaled by its weight, and the highest score wins.
// So one key lands on one realserver whatever its client address, and
// when a realserver goes away (removed, down, drained, or excluded by a
// fail-over) only the keys it had move, spread over the others in
// proportion to their weights; when it comes back, only those return.
//
// The score is -w / ln(u), u the hash mapped to (0, 1): the weighted
// form of HRW (Schindelhauer and Schomaker, "Weighted distributed hash
// tables", 2005), under which a realserver wins a share of keys
// proportional to its weight.
type rendezvous struct{}

func (rendezvous) rebuild([]*Realserver) {}

func (rendezvous) pick(k key, rs []*Realserver, ex exclusion) *Realserver {
	kh := keyHash(k)
	var (
		best      *Realserver
		bestScore float64
	)
	for _, r := range rs {
		if !ex.ok(r) {
			continue
		}
		s := hrwScore(kh, r)
		if best == nil || s > bestScore {
			best, bestScore = r, s
		}
	}
	return best
}

// keyHash hashes the key's user name, or its client address when there is
// no user (FNV-1a, 64 bits).
func keyHash(k key) uint64 {
	h := fnv.New64a()
	if k.user != "" {
		h.Write([]byte{'u'})
		h.Write([]byte(k.user))
	} else {
		b, _ := k.client.MarshalBinary()
		h.Write([]byte{'a'})
		h.Write(b)
	}
	return h.Sum64()
}

// hrwScore is r's weighted score for a key hash: the key hash combined with
// the realserver's address, mixed (splitmix64's finalizer, so that nearby
// addresses give unrelated scores), taken as u in (0, 1), then -w/ln(u).
func hrwScore(kh uint64, r *Realserver) float64 {
	a := r.addr.Addr().As16()
	x := kh ^ binary.BigEndian.Uint64(a[:8])
	x = mix64(x) ^ binary.BigEndian.Uint64(a[8:]) ^ uint64(r.addr.Port())<<48
	x = mix64(x)
	u := (float64(x>>11) + 0.5) / (1 << 53) // in (0, 1), never 0 or 1
	return -float64(r.Weight()) / math.Log(u)
}

// mix64 is the finalizer of splitmix64: a bijection that spreads every
// input bit over the whole output.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
