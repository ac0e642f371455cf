//go:build !linux

package ipvs

import "fmt"

// NewIPVS returns ErrUnsupported: IPVS is Linux only.
func NewIPVS() (IPVS, error) {
	return nil, fmt.Errorf("%w: IPVS needs Linux", ErrUnsupported)
}

// NewFirewall returns ErrUnsupported: nftables is Linux only.
func NewFirewall(netns int) (Firewall, error) {
	return nil, fmt.Errorf("%w: nftables needs Linux", ErrUnsupported)
}
