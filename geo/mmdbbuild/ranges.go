package mmdbbuild

import (
	"fmt"
	"net/netip"

	"go4.org/netipx"
)

// RangePrefixes returns the smallest list of CIDR prefixes, in address
// order, that exactly covers the inclusive address range [lo, hi]. Both ends
// must be valid addresses of the same family without zones, and lo must not
// be greater than hi.
func RangePrefixes(lo, hi netip.Addr) ([]netip.Prefix, error) {
	switch {
	case !lo.IsValid() || !hi.IsValid():
		return nil, fmt.Errorf("invalid range %v-%v", lo, hi)
	case lo.Is4() != hi.Is4():
		return nil, fmt.Errorf("range %s-%s mixes IPv4 and IPv6", lo, hi)
	case lo.Zone() != "" || hi.Zone() != "":
		return nil, fmt.Errorf("range %s-%s has a zone", lo, hi)
	case hi.Less(lo):
		return nil, fmt.Errorf("range %s-%s ends before it starts", lo, hi)
	}
	return netipx.IPRangeFrom(lo, hi).Prefixes(), nil
}
