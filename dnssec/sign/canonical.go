package sign

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// rrsetInfo is what an RRset's RRSIG copies from its records.
type rrsetInfo struct {
	owner string // canonical: lower case, fully qualified
	typ   uint16
	class uint16
	ttl   uint32
}

// describe checks that rrset is one RRset that may be signed (RFC 2181 5:
// one owner, type and class, and one TTL) and returns what its RRSIG copies.
func describe(rrset []dns.RR) (rrsetInfo, error) {
	if len(rrset) == 0 {
		return rrsetInfo{}, errors.New("sign: empty RRset")
	}
	h := rrset[0].Header()
	info := rrsetInfo{owner: dns.CanonicalName(h.Name), typ: h.Rrtype, class: h.Class, ttl: h.Ttl}
	switch info.typ {
	case dns.TypeRRSIG, dns.TypeOPT, dns.TypeTSIG, dns.TypeNone:
		return info, fmt.Errorf("sign: %s: type %s is never signed", info.owner, dns.Type(info.typ))
	}
	if strings.HasPrefix(info.owner, "*") && !strings.HasPrefix(info.owner, "*.") {
		// miekg/dns would count this as a wildcard owner and get Labels wrong.
		return info, fmt.Errorf("sign: %s %s: a label that starts with * but is not a wildcard", info.owner, dns.Type(info.typ))
	}
	for _, rr := range rrset {
		switch x := rr.(type) {
		case *dns.A:
			if x.A.To4() == nil {
				return info, fmt.Errorf("sign: %s: A record with address %v", info.owner, x.A)
			}
		case *dns.AAAA:
			if len(x.AAAA) != 16 {
				return info, fmt.Errorf("sign: %s: AAAA record with address %v", info.owner, x.AAAA)
			}
		}
		o := rr.Header()
		if o.Rrtype != info.typ || o.Class != info.class || !strings.EqualFold(o.Name, h.Name) {
			return info, fmt.Errorf("sign: %s %s: not one RRset: holds %s %s", info.owner, dns.Type(info.typ), o.Name, dns.Type(o.Rrtype))
		}
		if o.Ttl != info.ttl {
			return info, fmt.Errorf("sign: %s %s: TTLs differ within the RRset (%d, %d)", info.owner, dns.Type(info.typ), info.ttl, o.Ttl)
		}
	}
	return info, nil
}

// scratch is the reusable memory of one contentHash call.
type scratch struct {
	rdata []byte
	spans [][2]int
	out   []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// contentHash returns the SHA-256 of rrset's canonical signing input, bar
// the RRSIG's own fields: the canonical owner, type, class and TTL, and the
// canonical RDATA of its records (RFC 4034 6.2: names lower-cased where
// miekg/dns lower-cases them) sorted and without duplicates (RFC 4034 6.3).
// The same RRset in any record order or owner case has the same hash. info
// must be describe(rrset).
func contentHash(rrset []dns.RR, info rrsetInfo) ([32]byte, error) {
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	s.rdata, s.spans = s.rdata[:0], s.spans[:0]
	for _, rr := range rrset {
		start := len(s.rdata)
		var err error
		if s.rdata, err = appendRdata(s.rdata, rr); err != nil {
			return [32]byte{}, fmt.Errorf("sign: %s %s: %w", info.owner, dns.Type(info.typ), err)
		}
		s.spans = append(s.spans, [2]int{start, len(s.rdata)})
	}
	rd := s.rdata
	slices.SortFunc(s.spans, func(a, b [2]int) int { return bytes.Compare(rd[a[0]:a[1]], rd[b[0]:b[1]]) })

	out := binary.BigEndian.AppendUint16(s.out[:0], uint16(len(info.owner)))
	out = append(out, info.owner...)
	out = binary.BigEndian.AppendUint16(out, info.typ)
	out = binary.BigEndian.AppendUint16(out, info.class)
	out = binary.BigEndian.AppendUint32(out, info.ttl)
	var prev []byte
	for i, sp := range s.spans {
		r := rd[sp[0]:sp[1]]
		if i > 0 && bytes.Equal(r, prev) {
			continue
		}
		prev = r
		out = binary.BigEndian.AppendUint16(out, uint16(len(r)))
		out = append(out, r...)
	}
	s.out = out
	return sha256.Sum256(out), nil
}

// appendRdata appends the canonical wire form of rr's RDATA to b.
func appendRdata(b []byte, rr dns.RR) ([]byte, error) {
	switch x := rr.(type) {
	case *dns.A: // the common answers of a service, without a copy; describe checked the lengths
		return append(b, x.A.To4()...), nil
	case *dns.AAAA:
		return append(b, x.AAAA...), nil
	}
	c := dns.Copy(rr)
	c.Header().Name = "."
	lowerRdataNames(c)
	start := len(b)
	n := dns.Len(c) + 1
	b = slices.Grow(b, n)[:start+n]
	off, err := dns.PackRR(c, b, start, nil, false)
	if err != nil {
		return b[:start], err
	}
	// The root owner, type, class, TTL and RDLENGTH come before the RDATA.
	const header = 1 + 2 + 2 + 4 + 2
	copy(b[start:], b[start+header:off])
	return b[:off-header], nil
}

// lowerRdataNames lower-cases the domain names in rr's RDATA that
// miekg/dns lower-cases when it signs (RFC 4034 6.2 with RFC 6840 5.1), so
// that two spellings of one RRset share a cache entry.
func lowerRdataNames(rr dns.RR) {
	switch x := rr.(type) {
	case *dns.NS:
		x.Ns = dns.CanonicalName(x.Ns)
	case *dns.MD:
		x.Md = dns.CanonicalName(x.Md)
	case *dns.MF:
		x.Mf = dns.CanonicalName(x.Mf)
	case *dns.CNAME:
		x.Target = dns.CanonicalName(x.Target)
	case *dns.SOA:
		x.Ns = dns.CanonicalName(x.Ns)
		x.Mbox = dns.CanonicalName(x.Mbox)
	case *dns.MB:
		x.Mb = dns.CanonicalName(x.Mb)
	case *dns.MG:
		x.Mg = dns.CanonicalName(x.Mg)
	case *dns.MR:
		x.Mr = dns.CanonicalName(x.Mr)
	case *dns.PTR:
		x.Ptr = dns.CanonicalName(x.Ptr)
	case *dns.MINFO:
		x.Rmail = dns.CanonicalName(x.Rmail)
		x.Email = dns.CanonicalName(x.Email)
	case *dns.MX:
		x.Mx = dns.CanonicalName(x.Mx)
	case *dns.RP:
		x.Mbox = dns.CanonicalName(x.Mbox)
		x.Txt = dns.CanonicalName(x.Txt)
	case *dns.AFSDB:
		x.Hostname = dns.CanonicalName(x.Hostname)
	case *dns.RT:
		x.Host = dns.CanonicalName(x.Host)
	case *dns.SIG:
		x.SignerName = dns.CanonicalName(x.SignerName)
	case *dns.PX:
		x.Map822 = dns.CanonicalName(x.Map822)
		x.Mapx400 = dns.CanonicalName(x.Mapx400)
	case *dns.NAPTR:
		x.Replacement = dns.CanonicalName(x.Replacement)
	case *dns.KX:
		x.Exchanger = dns.CanonicalName(x.Exchanger)
	case *dns.SRV:
		x.Target = dns.CanonicalName(x.Target)
	case *dns.DNAME:
		x.Target = dns.CanonicalName(x.Target)
	}
}
