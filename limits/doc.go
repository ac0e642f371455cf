// Package limits owns algd's bounded resources: the data-port range
// allocator that hands out the ports of a passive or media range (Ports),
// the caps on concurrent sessions, globally and per client address
// (Sessions), and the cap on what one client address may hold of those
// ranges (PerClient). LocalErrors tells algd's own exhaustion
// (descriptors, memory, source ports) apart from a peer's failure and
// counts it.
//
// Everything here is safe for concurrent use, constant-time per operation
// and allocation-free on the hot paths, so the protocol packages can call
// it once per command or connection without measuring it.
package limits
