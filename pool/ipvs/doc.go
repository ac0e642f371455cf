// Package ipvs makes the kernel match algd's [[group]]s: every group is one
// IPVS fwmark service (destinations from its pool, weights from health) and
// a few rules in an nftables table owned by algd that mark the group's
// VIP, protocols and ports with the group's fwmark.
//
// The kernel is reached through two small interfaces, IPVS and Firewall,
// with a netlink implementation on Linux (NewIPVS, NewFirewall), a stub
// elsewhere returning ErrUnsupported, and in-memory fakes (FakeIPVS,
// FakeFirewall) for tests. A Reconciler reads the kernel, compares it with
// the desired State built by Desired, and applies only the difference. It
// touches IPVS fwmark services inside its fwmark range and its own nft
// table, nothing else, and orders its steps so that no group's traffic is
// marked before its service is complete: services are created and updated
// first, the table is replaced in one nftables transaction, and services
// that are no longer wanted go last. A pass that fails midway leaves the
// old marking in place and the next pass finishes the work.
//
// Plan formats a State as ipvsadm-restore lines and an nft -f script, so
// `algd ipvs plan` shows what would be applied without touching anything.
package ipvs
