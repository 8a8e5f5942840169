// Package ecs reads and writes the EDNS Client Subnet option (RFC 7871)
// straight from wire-format messages, checking everything the RFC asks of
// it.
package ecs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// Code is the EDNS option code of Client Subnet.
const Code = dns.EDNS0SUBNET

// Families of RFC 7871 section 6 (IANA address family numbers).
const (
	FamilyIPv4 = 1
	FamilyIPv6 = 2
)

// Subnet is a parsed Client Subnet option.
type Subnet struct {
	Family uint16
	// Addr is the client network's address (its bits beyond SourceBits
	// are zero); for source prefix 0 with family 0 it is invalid.
	Addr       netip.Addr
	SourceBits uint8
	ScopeBits  uint8
}

// Prefix returns the client network.
func (s Subnet) Prefix() netip.Prefix {
	if !s.Addr.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(s.Addr, int(s.SourceBits))
}

// ErrMalformed wraps every reason an option is rejected; the reply to such
// a query is FORMERR (RFC 7871 section 7.1.1).
var ErrMalformed = errors.New("malformed client subnet option")

// Parse parses the option data (without code and length).
func Parse(data []byte) (Subnet, error) {
	var s Subnet
	if err := s.Unpack(data); err != nil {
		return Subnet{}, err
	}
	return s, nil
}

// Unpack is Parse into s, for a caller that holds the Subnet already (it
// spares copying one); after an error s is undefined.
func (s *Subnet) Unpack(data []byte) error {
	if len(data) < 4 {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	s.Family, s.SourceBits, s.ScopeBits = binary.BigEndian.Uint16(data), data[2], data[3]
	addr := data[4:]
	var size int
	switch s.Family {
	case FamilyIPv4:
		size = 4
	case FamilyIPv6:
		size = 16
	case 0:
		// Some clients (dig +subnet=0) send family 0 with prefix 0 to ask
		// that no client information be used.
		if s.SourceBits == 0 && len(addr) == 0 {
			s.Addr = netip.Addr{}
			return nil
		}
		return fmt.Errorf("%w: family 0 with a prefix", ErrMalformed)
	default:
		return fmt.Errorf("%w: unknown family %d", ErrMalformed, s.Family)
	}
	if int(s.SourceBits) > size*8 || int(s.ScopeBits) > size*8 {
		return fmt.Errorf("%w: prefix /%d too long for family %d", ErrMalformed, s.SourceBits, s.Family)
	}
	if len(addr) != (int(s.SourceBits)+7)/8 {
		return fmt.Errorf("%w: %d address bytes for a /%d prefix", ErrMalformed, len(addr), s.SourceBits)
	}
	// The address bytes end at the source prefix's last byte: only that
	// byte's bits beyond the prefix can be set.
	if rest := s.SourceBits % 8; rest != 0 && addr[len(addr)-1]&(0xff>>rest) != 0 {
		return fmt.Errorf("%w: address bits set beyond the /%d source prefix", ErrMalformed, s.SourceBits)
	}
	var full [16]byte
	copy(full[:], addr)
	if size == 4 {
		s.Addr = netip.AddrFrom4([4]byte(full[:4]))
	} else {
		s.Addr = netip.AddrFrom16(full)
	}
	return nil
}

// Find returns the data of the Client Subnet option in the OPT record of a
// wire-format message. It expects a message miekg/dns already unpacked (so
// its structure is sound) and reports found=false when there is none.
func Find(msg []byte) (data []byte, found bool) {
	if len(msg) < 12 {
		return nil, false
	}
	counts := [4]int{}
	for i := range counts {
		counts[i] = int(binary.BigEndian.Uint16(msg[4+2*i:]))
	}
	off := 12
	for range counts[0] {
		if off = skipName(msg, off); off < 0 || off+4 > len(msg) {
			return nil, false
		}
		off += 4
	}
	for i := 0; i < counts[1]+counts[2]+counts[3]; i++ {
		if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
			return nil, false
		}
		typ := binary.BigEndian.Uint16(msg[off:])
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		if off+rdlen > len(msg) {
			return nil, false
		}
		if typ == dns.TypeOPT {
			rd := msg[off : off+rdlen]
			for len(rd) >= 4 {
				code, olen := binary.BigEndian.Uint16(rd), int(binary.BigEndian.Uint16(rd[2:]))
				if 4+olen > len(rd) {
					return nil, false
				}
				if code == Code {
					return rd[4 : 4+olen], true
				}
				rd = rd[4+olen:]
			}
		}
		off += rdlen
	}
	return nil, false
}

// skipName returns the offset just past the name at off, or -1.
func skipName(msg []byte, off int) int {
	for off < len(msg) {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			return off + 2
		case l&0xC0 != 0:
			return -1
		}
		off += l + 1
	}
	return -1
}

// Option returns the option to echo in a reply: the query's family, source
// prefix and address, with the given scope prefix (RFC 7871 section 7.2.1).
func (s Subnet) Option(scope uint8) *dns.EDNS0_SUBNET {
	o := &dns.EDNS0_SUBNET{Code: Code, Family: s.Family, SourceNetmask: s.SourceBits, SourceScope: scope}
	switch {
	case s.Family == FamilyIPv4:
		b := s.Addr.As4()
		o.Address = net.IP(b[:])
	case s.Family == FamilyIPv6:
		b := s.Addr.As16()
		o.Address = net.IP(b[:])
	default:
		o.Address = net.IPv4zero
	}
	return o
}

// Routable reports whether the subnet names a client worth locating: a
// non-zero prefix of a global unicast address that is not private. For
// anything else the resolver's own address is used. An IPv4-mapped address
// in an IPv6 option is not used either: its prefix lengths count IPv6 bits,
// so no IPv4 scope could be echoed for it correctly.
//
// It decides as netip's IsGlobalUnicast and IsPrivate would, from the
// address's bytes (it runs for every ECS query).
func (s Subnet) Routable() bool {
	if s.SourceBits == 0 {
		return false
	}
	switch a := s.Addr; {
	case a.Is4():
		b := a.As4()
		switch {
		case b == [4]byte{} || b == [4]byte{255, 255, 255, 255}: // unspecified, broadcast
			return false
		case b[0] == 127, b[0]&0xf0 == 224: // loopback, multicast
			return false
		case b[0] == 169 && b[1] == 254: // link-local
			return false
		case b[0] == 10, b[0] == 172 && b[1]&0xf0 == 16, b[0] == 192 && b[1] == 168: // private
			return false
		}
		return true
	case a.Is6() && !a.Is4In6():
		b := a.As16()
		hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
		switch {
		case hi == 0 && lo <= 1: // unspecified, loopback
			return false
		case b[0] == 0xff, b[0] == 0xfe && b[1]&0xc0 == 0x80: // multicast, link-local
			return false
		case b[0]&0xfe == 0xfc: // unique local (private)
			return false
		}
		return true
	}
	return false
}
