package server

import (
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dns/ecs"
)

// EDNS (RFC 6891): what a query's OPT record asks, and the one place our
// OPT record is written. Every reply is made without an OPT record, by
// either path, and finish appends ours last: it compresses nothing and
// nothing points into it, so the bytes are those miekg/dns would pack.

// ednsInfo is what a query's OPT record asked.
type ednsInfo struct {
	// size is the requestor's UDP payload size, at least 512.
	size uint16
	do   bool
	// co is the Compact Answers OK flag (RFC 9824): the resolver takes
	// NXDOMAIN with compact denial.
	co   bool
	nsid bool
	// subnet is the query's Client Subnet option, when it has one and ECS
	// is used for this resolver.
	subnet    ecs.Subnet
	hasSubnet bool
}

// parseEDNS checks the query's OPT record (RFC 6891 section 6.1.1): at most
// one, in the additional section, owned by the root. It returns nil when the
// query has no EDNS, and an rcode other than success when the query must be
// refused with it (FORMERR or BADVERS).
func parseEDNS(req *dns.Msg) (*ednsInfo, int) {
	for _, rr := range req.Answer {
		if rr.Header().Rrtype == dns.TypeOPT {
			return nil, dns.RcodeFormatError
		}
	}
	for _, rr := range req.Ns {
		if rr.Header().Rrtype == dns.TypeOPT {
			return nil, dns.RcodeFormatError
		}
	}
	var opt *dns.OPT
	for _, rr := range req.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			if opt != nil || o.Hdr.Name != "." {
				return nil, dns.RcodeFormatError
			}
			opt = o
		}
	}
	if opt == nil {
		return nil, dns.RcodeSuccess
	}
	info := &ednsInfo{size: max(opt.UDPSize(), dns.MinMsgSize), do: opt.Do(), co: opt.Co()}
	for _, o := range opt.Option {
		if o.Option() == dns.EDNS0NSID {
			info.nsid = true
		}
	}
	if opt.Version() != 0 {
		return info, dns.RcodeBadVers
	}
	return info, dns.RcodeSuccess
}

// useECS reports whether Client Subnet options from resolver are used:
// ECS is on and the resolver is trusted with it.
func (h *Handler) useECS(resolver netip.Addr) bool {
	if !h.opts.ECS {
		return false
	}
	if len(h.opts.ECSResolvers) == 0 {
		return true
	}
	resolver = resolver.Unmap()
	for _, p := range h.opts.ECSResolvers {
		if p.Contains(resolver) {
			return true
		}
	}
	return false
}

// clientSubnet reads the Client Subnet option of the query wire into e. A
// malformed option is FORMERR (RFC 7871 section 7.1.1).
func clientSubnet(wire []byte, e *ednsInfo) int {
	data, ok := ecs.Find(wire)
	if !ok {
		return dns.RcodeSuccess
	}
	s, err := ecs.Parse(data)
	if err != nil {
		return dns.RcodeFormatError
	}
	e.subnet, e.hasSubnet = s, true
	return dns.RcodeSuccess
}

// udpLimit is the largest UDP reply to a query: 512 bytes without EDNS
// (e nil), else the requestor's payload size up to ours.
func (h *Handler) udpLimit(e *ednsInfo) int {
	if e == nil {
		return dns.MinMsgSize
	}
	return max(dns.MinMsgSize, int(min(e.size, h.opts.UDPSize)))
}

// optLen is the length of the OPT record appendOPT writes for e.
func (h *Handler) optLen(e *ednsInfo) int {
	if e == nil {
		return 0
	}
	n := 11
	if e.nsid && h.opts.ServerID != "" {
		n += 4 + len(h.opts.ServerID)
	}
	if e.hasSubnet {
		n += 8 + (int(e.subnet.SourceBits)+7)/8
	}
	return n
}

// appendOPT appends our OPT record to a reply to a query with EDNS e: our
// payload size, the extended bits of rcode, DO copied, our NSID when
// asked (RFC 5001), and the Client Subnet option echoed with the scope
// the answer holds for (RFC 7871 section 7.2.1).
func (h *Handler) appendOPT(out []byte, e *ednsInfo, rcode int, scope uint8) []byte {
	size := h.opts.UDPSize
	out = append(out, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT), byte(size>>8), byte(size), byte(rcode>>4), 0)
	var flags byte
	if e.do {
		flags = 0x80 // DO
		if e.co {
			flags |= 0x40 // CO: compact answers (RFC 9824)
		}
	}
	out = append(out, flags, 0)
	out = binary.BigEndian.AppendUint16(out, uint16(h.optLen(e)-11))
	if e.nsid && h.opts.ServerID != "" {
		out = append(out, 0, byte(dns.EDNS0NSID))
		out = binary.BigEndian.AppendUint16(out, uint16(len(h.opts.ServerID)))
		out = append(out, h.opts.ServerID...)
	}
	if !e.hasSubnet {
		return out
	}
	s := &e.subnet
	n := (int(s.SourceBits) + 7) / 8
	out = append(out, 0, byte(ecs.Code), 0, byte(4+n), byte(s.Family>>8), byte(s.Family), s.SourceBits, scope)
	if s.Family == ecs.FamilyIPv4 {
		a := s.Addr.As4()
		return append(out, a[:n]...)
	}
	a := s.Addr.As16()
	return append(out, a[:n]...)
}
