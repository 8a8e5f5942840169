package server

import (
	"encoding/binary"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dns/ecs"
)

// plainQuery is a query read straight from its bytes, without miekg/dns:
// one IN question with a plain name, and at most an OPT record. Most
// queries an authoritative server sees are of this form; the answer cache
// is keyed by their question.
type plainQuery struct {
	// question is the question section as received: name, type and class.
	// It is the answer cache's key, so case matters (0x20 resolvers get
	// their own entries, exactly as the full path would answer them).
	question []byte
	qtype    uint16
	// hasEDNS is set when the query has an OPT record, which edns holds.
	hasEDNS bool
	edns    ednsInfo
}

// parse reads a plain query into q, which must be zero, and reports
// whether it is one. It reports false for anything unusual (another opcode
// or class, compression in the question, zone transfers, ANY, unknown or
// bad EDNS, trailing bytes); the full path answers those. withECS says
// whether a Client Subnet option is read. The name's bytes are not read
// here: only questions that are rememberable are ever in the answer cache,
// so a question that is not can only miss it. q is filled in place, not
// returned: the hot path's plainQuery stays where it is.
func (q *plainQuery) parse(msg []byte, withECS bool) bool {
	if len(msg) < headerLen+5 || msg[2]&0x78 != 0 { // opcode QUERY only
		return false
	}
	if binary.BigEndian.Uint16(msg[4:]) != 1 || binary.BigEndian.Uint16(msg[6:]) != 0 || binary.BigEndian.Uint16(msg[8:]) != 0 {
		return false
	}
	arcount := binary.BigEndian.Uint16(msg[10:])
	if arcount > 1 {
		return false
	}
	off := headerLen
	for {
		if off >= len(msg) {
			return false
		}
		l := int(msg[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 || off+1+l > len(msg) || off+1+l-headerLen > 254 {
			return false
		}
		off += 1 + l
	}
	if off+4 > len(msg) {
		return false
	}
	q.qtype = binary.BigEndian.Uint16(msg[off:])
	if binary.BigEndian.Uint16(msg[off+2:]) != dns.ClassINET || !plainType(q.qtype) {
		return false
	}
	off += 4
	q.question = msg[headerLen:off]
	if arcount == 0 {
		return off == len(msg)
	}
	// The OPT record: root owner, type OPT, version 0, options that fill
	// its data exactly.
	if off+11 > len(msg) || msg[off] != 0 || binary.BigEndian.Uint16(msg[off+1:]) != dns.TypeOPT {
		return false
	}
	q.hasEDNS = true
	q.edns.size = max(binary.BigEndian.Uint16(msg[off+3:]), dns.MinMsgSize)
	if msg[off+6] != 0 { // version: BADVERS is the full path's answer
		return false
	}
	q.edns.do = msg[off+7]&0x80 != 0
	q.edns.co = msg[off+7]&0x40 != 0
	rdlen := int(binary.BigEndian.Uint16(msg[off+9:]))
	rd := msg[off+11:]
	if len(rd) != rdlen {
		return false
	}
	for len(rd) > 0 {
		if len(rd) < 4 {
			return false
		}
		code, olen := binary.BigEndian.Uint16(rd), int(binary.BigEndian.Uint16(rd[2:]))
		if 4+olen > len(rd) {
			return false
		}
		switch code {
		case dns.EDNS0NSID:
			q.edns.nsid = true
		case ecs.Code:
			if !withECS {
				break
			}
			if q.edns.hasSubnet {
				return false
			}
			if q.edns.subnet.Unpack(rd[4:4+olen]) != nil {
				return false // FORMERR comes from the full path
			}
			q.edns.hasSubnet = true
		}
		rd = rd[4+olen:]
	}
	return true
}

// rememberable reports whether the answer to q may be remembered: its name
// holds only bytes the presentation form does not escape, none of them
// upper case (resolvers that randomise the case of names, 0x20, would
// otherwise fill the cache with variants), and it is no _explain query,
// which is answered per client.
func (q *plainQuery) rememberable() bool {
	name := q.question[:len(q.question)-4]
	if len(name) > 9 && name[0] == 8 && strings.EqualFold(string(name[1:9]), "_explain") {
		return false
	}
	for off := 0; name[off] != 0; off += 1 + int(name[off]) {
		for _, c := range name[off+1 : off+1+int(name[off])] {
			if !plainByte[c] || 'A' <= c && c <= 'Z' {
				return false
			}
		}
	}
	return true
}

// keyFlags is the byte a DO query's cache key ends with, DO and CO, since
// a signed zone answers such a query differently; 0 without DO.
func (q *plainQuery) keyFlags() byte {
	if !q.hasEDNS || !q.edns.do {
		return 0
	}
	if q.edns.co {
		return 0x80 | 0x40
	}
	return 0x80
}

// cacheKey returns the answer cache's key for q: the question as
// received, and the keyFlags byte when there is one (then written in buf).
func (q *plainQuery) cacheKey(buf *[maxCacheKey]byte) []byte {
	f := q.keyFlags()
	if f == 0 {
		return q.question
	}
	return append(append(buf[:0], q.question...), f)
}

// maxCacheKey is the longest cache key: a question (a name of at most 255
// octets, type and class) and the flags byte.
const maxCacheKey = 255 + 4 + 1

// plainType reports whether a plain query may ask for qtype. Meta types
// and ANY take the full path.
func plainType(t uint16) bool {
	switch t {
	case 0, dns.TypeOPT, dns.TypeTKEY, dns.TypeTSIG, dns.TypeIXFR, dns.TypeAXFR,
		dns.TypeMAILA, dns.TypeMAILB, dns.TypeANY, dns.TypeNXNAME:
		return false
	}
	return true
}

// plainByte marks the bytes a name label of a plain query may hold:
// those miekg/dns writes unescaped in a name's text form, so the name
// looked up and echoed is the one received.
var plainByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	t['-'], t['_'], t['*'] = true, true, true
	return t
}()

// appendName appends the text form of the wire-format name (uncompressed,
// plain bytes as parseFast checked), in the case received.
func appendName(dst, wire []byte) []byte {
	if len(wire) == 0 || wire[0] == 0 {
		return append(dst, '.')
	}
	for off := 0; wire[off] != 0; {
		l := int(wire[off])
		dst = append(dst, wire[off+1:off+1+l]...)
		dst = append(dst, '.')
		off += 1 + l
	}
	return dst
}
