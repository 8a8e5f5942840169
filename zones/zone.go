package zones

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/miekg/dns"
)

// Zone is one authoritative zone as loaded: immutable once built.
type Zone struct {
	// Origin is the zone apex in canonical (lower-case, absolute) form.
	Origin string
	// File is the zone file the zone came from.
	File string
	// Hash identifies the content of the zone file and its records file.
	Hash [32]byte
	// Serial is the SOA serial being served.
	Serial uint32
	// SerialFromFile is true when the operator wrote the serial.
	SerialFromFile bool
	// Records counts the resource records loaded, apex SOA and NS included.
	Records int
	// DNSSEC is the zone's signing settings and keys, or nil when the
	// zone is not signed.
	DNSSEC *DNSSEC

	soa     *dns.SOA
	negTTL  uint32
	nodes   map[string]*node
	hasCuts bool
	modTime time.Time
	// inputs are the files the zone was read from, zone file first.
	inputs []string

	regions  []*Region
	services []*Service
	checks   []*Check
	maps     regionMaps
	// warnings are what Warnings returns.
	warnings []string
}

// node is one owner name in a zone. A node without rrsets is an empty
// non-terminal: it exists (so names below it are not NXDOMAIN) but holds no
// data.
type node struct {
	name   string
	rrsets []rrset
	// cut is true at a delegation point: a name below the apex with NS.
	cut bool
	// service, when set, computes this name's A and AAAA answers.
	service *Service
	// line and file say where the name first appeared (file indexes the
	// zone's inputs), for messages about it.
	line int32
	file uint8
}

// rrset is the records of one type at one name.
type rrset struct {
	typ uint16
	rrs []dns.RR
}

func (n *node) get(t uint16) []dns.RR {
	for i := range n.rrsets {
		if n.rrsets[i].typ == t {
			return n.rrsets[i].rrs
		}
	}
	return nil
}

// SOA returns the zone's SOA record. Callers must not modify it.
func (z *Zone) SOA() *dns.SOA { return z.soa }

// negativeSOA returns the SOA to put in the authority section of a negative
// answer: its TTL is min(SOA TTL, SOA minimum), per RFC 2308 section 5.
func (z *Zone) negativeSOA() dns.RR {
	if z.soa.Hdr.Ttl == z.negTTL {
		return z.soa
	}
	soa := *z.soa
	soa.Hdr.Ttl = z.negTTL
	return &soa
}

// builder assembles a Zone from a zone file, collecting every problem it
// finds rather than stopping at the first.
type builder struct {
	path string
	zone *Zone
	ttl  uint32
	errs []error
	// apexLine is the line of the soa: key, for messages about apex data.
	apexLine int
	// packBuf and nameBuf are scratch space for checking records.
	packBuf []byte
	nameBuf [256]byte
}

func newBuilder(path string) *builder {
	return &builder{
		path: path,
		zone: &Zone{File: path, nodes: make(map[string]*node)},
	}
}

func (b *builder) fail(file string, line int, format string, args ...any) {
	b.errs = append(b.errs, &fileError{file: file, err: errAt(line, format, args...)})
}

// header validates the apex settings of f and adds the SOA and NS records.
func (b *builder) header(f *File, keyLine func(string) int) error {
	if f.Zone == "" {
		return errAt(1, "zone: the zone's name is required")
	}
	origin, err := fqdn(f.Zone, "")
	if err != nil {
		return errAt(keyLine("zone"), "zone: %v", err)
	}
	b.zone.Origin = origin
	b.ttl = defaultTTL
	if f.TTL != nil {
		b.ttl = *f.TTL
	}
	if b.ttl > 1<<31-1 {
		return errAt(keyLine("ttl"), "ttl %d is above 2147483647 (RFC 2181)", b.ttl)
	}
	s := f.SOA
	b.apexLine = keyLine("soa")
	if s.MName == "" || s.RName == "" {
		return errAt(b.apexLine, "soa: mname and rname are required")
	}
	mname, err := fqdn(s.MName, origin)
	if err != nil {
		return errAt(b.apexLine, "soa.mname: %v", err)
	}
	rname, err := fqdn(s.RName, origin)
	if err != nil {
		return errAt(b.apexLine, "soa.rname: %v", err)
	}
	soa := &dns.SOA{
		Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: or(s.TTL, b.ttl)},
		Ns:      mname,
		Mbox:    rname,
		Refresh: or(s.Refresh, defaultRefresh),
		Retry:   or(s.Retry, defaultRetry),
		Expire:  or(s.Expire, defaultExpire),
		Minttl:  or(s.Minimum, defaultMinimum),
	}
	if s.Serial != nil {
		soa.Serial = *s.Serial
		b.zone.SerialFromFile = true
	}
	b.zone.soa = soa
	b.zone.negTTL = min(soa.Hdr.Ttl, soa.Minttl)
	b.insert(b.path, b.apexLine, soa)

	if len(f.NS) == 0 {
		return errAt(keyLine("ns"), "ns: at least one name server is required")
	}
	for _, name := range f.NS {
		target, err := fqdn(name, origin)
		if err != nil {
			return errAt(keyLine("ns"), "ns: %v", err)
		}
		b.insert(b.path, keyLine("ns"), &dns.NS{
			Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: b.ttl},
			Ns:  target,
		})
	}
	return nil
}

func or(v *uint32, def uint32) uint32 {
	if v != nil {
		return *v
	}
	return def
}

// add validates parsed master-file records and inserts them.
func (b *builder) add(file string, recs []record) {
	for _, r := range recs {
		h := r.rr.Header()
		h.Name = dns.CanonicalName(h.Name)
		switch {
		case h.Class != dns.ClassINET:
			b.fail(file, r.line, "class %s is not served; only IN", dns.ClassToString[h.Class])
		case !dns.IsSubDomain(b.zone.Origin, h.Name):
			b.fail(file, r.line, "%s is outside the zone %s", h.Name, b.zone.Origin)
		case h.Rrtype == dns.TypeSOA:
			b.fail(file, r.line, "SOA records belong in the soa: key, not among the records")
		case h.Rrtype == dns.TypeDNAME:
			b.fail(file, r.line, "DNAME records are not supported")
		case h.Ttl > 1<<31-1:
			b.fail(file, r.line, "TTL %d is above 2147483647 (RFC 2181)", h.Ttl)
		case b.emptyRdata(r.rr):
			b.fail(file, r.line, "%s %s has no data", h.Name, dns.TypeToString[h.Rrtype])
		default:
			b.insert(file, r.line, r.rr)
		}
	}
}

// emptyRdata reports whether rr packs with no RDATA (or does not pack at
// all). miekg/dns accepts "name IN A" with nothing after it on a file's
// last line, as dynamic updates use; as zone data it would go out as a
// malformed record.
func (b *builder) emptyRdata(rr dns.RR) bool {
	if need := dns.Len(rr) + 256; len(b.packBuf) < need {
		b.packBuf = make([]byte, max(need, 4096))
	}
	if _, err := dns.PackRR(rr, b.packBuf, 0, nil, false); err != nil {
		return true
	}
	n, err := dns.PackDomainName(rr.Header().Name, b.nameBuf[:], 0, nil, false)
	if err != nil {
		return true
	}
	return binary.BigEndian.Uint16(b.packBuf[n+8:]) == 0
}

// reserve grows the node table for about n more names at once, rather
// than by doubling through a large zone.
func (b *builder) reserve(n int) {
	if n < 1024 {
		return
	}
	nodes := make(map[string]*node, len(b.zone.nodes)+n+n/4)
	for k, v := range b.zone.nodes {
		nodes[k] = v
	}
	b.zone.nodes = nodes
}

// fileIndex returns the index of file among the zone's inputs.
func (b *builder) fileIndex(file string) uint8 {
	for i, f := range b.zone.inputs {
		if f == file {
			return uint8(i)
		}
	}
	return 0
}

// failAt records a problem about node n at the place it first appeared.
func (b *builder) failAt(n *node, format string, args ...any) {
	file, line := b.where(n)
	b.fail(file, line, format, args...)
}

// where returns the file and line where node n first appeared.
func (b *builder) where(n *node) (string, int) {
	file := b.path
	if int(n.file) < len(b.zone.inputs) {
		file = b.zone.inputs[n.file]
	}
	return file, int(n.line)
}

// insert adds rr at its owner name, creating empty non-terminals above it.
func (b *builder) insert(file string, line int, rr dns.RR) {
	name := rr.Header().Name
	n := b.zone.nodes[name]
	if n == nil {
		n = &node{name: name, line: int32(line), file: b.fileIndex(file)}
		b.zone.nodes[name] = n
		b.addParents(name)
	}
	t := rr.Header().Rrtype
	for i := range n.rrsets {
		if n.rrsets[i].typ == t {
			for _, old := range n.rrsets[i].rrs {
				if dns.IsDuplicate(old, rr) {
					return
				}
			}
			n.rrsets[i].rrs = append(n.rrsets[i].rrs, rr)
			return
		}
	}
	n.rrsets = append(n.rrsets, rrset{typ: t, rrs: []dns.RR{rr}})
}

// addParents creates the empty non-terminals between name and the apex.
func (b *builder) addParents(name string) {
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		parent := name[off:]
		if len(parent) < len(b.zone.Origin) {
			return
		}
		if _, ok := b.zone.nodes[parent]; ok {
			return
		}
		b.zone.nodes[parent] = &node{name: parent}
	}
}

// finish checks the rules that span records (CNAME exclusivity, data below
// delegations), normalises RRset TTLs and returns the zone.
func (b *builder) finish() (*Zone, []error) {
	z := b.zone
	names := make([]string, 0, len(z.nodes))
	for name := range z.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := z.nodes[name]
		sort.Slice(n.rrsets, func(i, j int) bool { return n.rrsets[i].typ < n.rrsets[j].typ })
		if len(n.rrsets) == 0 {
			continue
		}
		if cn := n.get(dns.TypeCNAME); cn != nil {
			switch {
			case name == z.Origin:
				b.failAt(n, "CNAME at the zone apex %s is not allowed (RFC 1034 3.6.2)", name)
			case len(cn) > 1:
				b.failAt(n, "%s has more than one CNAME record", name)
			case len(n.rrsets) > 1:
				b.failAt(n, "%s has a CNAME and other data (RFC 1034 3.6.2)", name)
			}
		}
		if name != z.Origin && n.get(dns.TypeNS) != nil {
			n.cut = true
			z.hasCuts = true
		}
		for i := range n.rrsets {
			normaliseTTL(n.rrsets[i].rrs)
			z.Records += len(n.rrsets[i].rrs)
		}
	}
	if z.hasCuts {
		for _, name := range names {
			n := z.nodes[name]
			if n.service != nil && (n.cut || z.cutAbove(name) != "") {
				b.fail(n.service.File, n.service.Line, "service %s is at or below a delegation", name)
			}
			if len(n.rrsets) == 0 {
				continue
			}
			cut := z.cutAbove(name)
			if cut == "" {
				continue
			}
			for _, rs := range n.rrsets {
				if rs.typ != dns.TypeA && rs.typ != dns.TypeAAAA {
					b.failAt(n, "%s %s is below the delegation to %s; only glue addresses may be there",
						name, dns.TypeToString[rs.typ], cut)
					break
				}
			}
		}
	}
	if len(b.errs) > 0 {
		b.sortErrors()
		return nil, b.errs
	}
	return z, nil
}

// sortErrors puts the problems found in the order of the files and lines
// they are about, however the checks that found them were ordered.
func (b *builder) sortErrors() {
	place := func(err error) (int, int) {
		fe, ok := err.(*fileError)
		if !ok {
			return len(b.zone.inputs), 0
		}
		file := len(b.zone.inputs)
		if i := slices.Index(b.zone.inputs, fe.file); i >= 0 {
			file = i
		}
		line := 0
		if le, ok := fe.err.(*lineError); ok {
			line = le.line
		}
		return file, line
	}
	slices.SortStableFunc(b.errs, func(x, y error) int {
		fx, lx := place(x)
		fy, ly := place(y)
		return cmp.Or(cmp.Compare(fx, fy), cmp.Compare(lx, ly))
	})
}

// cutAbove returns the closest delegation point strictly above name, or "".
func (z *Zone) cutAbove(name string) string {
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		p := name[off:]
		if len(p) <= len(z.Origin) {
			return ""
		}
		if n := z.nodes[p]; n != nil && n.cut {
			return p
		}
	}
	return ""
}

// normaliseTTL gives every record of an RRset the lowest TTL among them, as
// RFC 2181 section 5.2 requires all TTLs of an RRset to be equal.
func normaliseTTL(rrs []dns.RR) {
	if len(rrs) < 2 {
		return
	}
	low := rrs[0].Header().Ttl
	for _, rr := range rrs[1:] {
		low = min(low, rr.Header().Ttl)
	}
	for _, rr := range rrs {
		rr.Header().Ttl = low
	}
}

// String describes the zone for logs and `meridian check`.
func (z *Zone) String() string {
	return fmt.Sprintf("%s (serial %d, %d records, %s)", z.Origin, z.Serial, z.Records, z.File)
}
