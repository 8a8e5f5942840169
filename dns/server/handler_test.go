package server

import (
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zones"
)

// testZones are the zones the handler tests are answered from.
var testZones = map[string]string{
	"example.com.yaml": `
zone: example.com.
ttl: 3600
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 7, minimum: 300, ttl: 600}
ns: [ns1.example.com., ns2.example.com.]
records: |
  ns1        IN A      192.0.2.53
  ns2        IN AAAA   2001:db8::53
  @          IN MX 10  mail
  mail       IN A      192.0.2.25
  mail       IN AAAA   2001:db8::25
  docs       IN CNAME  www
  www        IN A      192.0.2.10
  chain1     IN CNAME  chain2
  chain2     IN CNAME  docs
  loop1      IN CNAME  loop2
  loop2      IN CNAME  loop1
  ext        IN CNAME  www.elsewhere.org.
  dangling   IN CNAME  missing
  cross      IN CNAME  www.example.net.
  *.apps     IN A      192.0.2.80
  x.apps     IN TXT    "explicit"
  *.wc       IN CNAME  www
  sub        IN NS     ns.sub
  sub        IN NS     ns1
  ns.sub     IN A      192.0.2.99
  child      IN NS     ns1
  _sip._udp  IN SRV 10 5 5060 sip
  sip        IN A      192.0.2.60
  a.b.c      IN TXT    "deep"
  big        IN TXT    "` + strings.Repeat("x", 200) + `"
  big        IN TXT    "` + strings.Repeat("y", 200) + `"
  big        IN TXT    "` + strings.Repeat("z", 200) + `"
`,
	"child.example.com.yaml": `
zone: child.example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 1, minimum: 60}
ns: [ns1.example.com.]
records: |
  www IN A 192.0.2.200
`,
	"example.net.yaml": `
zone: example.net.
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 1, minimum: 900, ttl: 120}
ns: [ns1.example.com.]
records: |
  www IN A 192.0.2.40
`,
}

func writeZones(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newTestHandler(t testing.TB, opts Options) *Handler {
	t.Helper()
	snap, err := zones.Load(writeZones(t, testZones), nil)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[zones.Snapshot]
	p.Store(snap)
	return NewHandler(&p, nil, opts, nil)
}

// exchange packs m, serves it and unpacks the reply (nil when dropped).
func exchange(t *testing.T, h *Handler, m *dns.Msg, tr Transport) *dns.Msg {
	t.Helper()
	q, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return exchangeBytes(t, h, q, tr)
}

func exchangeBytes(t *testing.T, h *Handler, q []byte, tr Transport) *dns.Msg {
	t.Helper()
	out := h.Serve(q, testClient, tr, nil)
	if out == nil {
		return nil
	}
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatalf("reply does not unpack: %v", err)
	}
	return r
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	return m
}

// section renders records as sorted zone-file lines, so that sections
// compare regardless of order.
func section(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	sort.Strings(out)
	return out
}

func TestHandlerAnswers(t *testing.T) {
	h := newTestHandler(t, Options{})
	soa := "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 7 7200 3600 1209600 300"
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		aa      bool
		answer  []string
		ns      []string
		extra   []string
		comment string
	}{
		{name: "exact A, qname case kept", qname: "WwW.ExAmple.COM.", qtype: dns.TypeA, aa: true,
			answer: []string{"WwW.ExAmple.COM. 3600 IN A 192.0.2.10"}},
		{name: "NXDOMAIN carries SOA with negative TTL", qname: "nope.example.com.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soa}},
		{name: "NODATA at existing name", qname: "www.example.com.", qtype: dns.TypeAAAA, aa: true, ns: []string{soa}},
		{name: "NODATA at empty non-terminal", qname: "b.c.example.com.", qtype: dns.TypeA, aa: true, ns: []string{soa}},
		{name: "NODATA at higher empty non-terminal", qname: "c.example.com.", qtype: dns.TypeTXT, aa: true, ns: []string{soa}},
		{name: "NXDOMAIN below empty non-terminal", qname: "x.b.c.example.com.", qtype: dns.TypeTXT, rcode: dns.RcodeNameError, aa: true, ns: []string{soa}},
		{name: "CNAME followed in zone", qname: "docs.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"docs.example.com. 3600 IN CNAME www.example.com.", "www.example.com. 3600 IN A 192.0.2.10"}},
		{name: "CNAME answered for another type", qname: "docs.example.com.", qtype: dns.TypeMX, aa: true,
			answer: []string{"docs.example.com. 3600 IN CNAME www.example.com."}, ns: []string{soa}},
		{name: "CNAME query returns the CNAME only", qname: "chain1.example.com.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"chain1.example.com. 3600 IN CNAME chain2.example.com."}},
		{name: "CNAME chain", qname: "chain1.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"chain1.example.com. 3600 IN CNAME chain2.example.com.", "chain2.example.com. 3600 IN CNAME docs.example.com.",
				"docs.example.com. 3600 IN CNAME www.example.com.", "www.example.com. 3600 IN A 192.0.2.10"}},
		{name: "CNAME loop answered with what was found", qname: "loop1.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"loop1.example.com. 3600 IN CNAME loop2.example.com.", "loop2.example.com. 3600 IN CNAME loop1.example.com."}},
		{name: "CNAME out of our zones left to the resolver", qname: "ext.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"ext.example.com. 3600 IN CNAME www.elsewhere.org."}},
		{name: "CNAME to a missing name is NXDOMAIN", qname: "dangling.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			answer: []string{"dangling.example.com. 3600 IN CNAME missing.example.com."}, ns: []string{soa}},
		{name: "CNAME into another of our zones", qname: "cross.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"cross.example.com. 3600 IN CNAME www.example.net.", "www.example.net. 3600 IN A 192.0.2.40"}},
		{name: "wildcard synthesis", qname: "foo.apps.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"foo.apps.example.com. 3600 IN A 192.0.2.80"}},
		{name: "wildcard matches several labels", qname: "a.b.apps.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"a.b.apps.example.com. 3600 IN A 192.0.2.80"}},
		{name: "wildcard NODATA for other type", qname: "foo.apps.example.com.", qtype: dns.TypeMX, aa: true, ns: []string{soa}},
		{name: "no synthesis at an existing name", qname: "x.apps.example.com.", qtype: dns.TypeA, aa: true, ns: []string{soa}},
		{name: "no synthesis below an existing name", qname: "y.x.apps.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{soa}},
		{name: "wildcard parent is an empty non-terminal", qname: "apps.example.com.", qtype: dns.TypeA, aa: true, ns: []string{soa}},
		{name: "wildcard CNAME is followed", qname: "q.wc.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"q.wc.example.com. 3600 IN CNAME www.example.com.", "www.example.com. 3600 IN A 192.0.2.10"}},
		{name: "referral at the cut", qname: "sub.example.com.", qtype: dns.TypeA,
			ns:    []string{"sub.example.com. 3600 IN NS ns.sub.example.com.", "sub.example.com. 3600 IN NS ns1.example.com."},
			extra: []string{"ns.sub.example.com. 3600 IN A 192.0.2.99", "ns1.example.com. 3600 IN A 192.0.2.53"}},
		{name: "referral below the cut", qname: "deep.www.sub.example.com.", qtype: dns.TypeMX,
			ns:    []string{"sub.example.com. 3600 IN NS ns.sub.example.com.", "sub.example.com. 3600 IN NS ns1.example.com."},
			extra: []string{"ns.sub.example.com. 3600 IN A 192.0.2.99", "ns1.example.com. 3600 IN A 192.0.2.53"}},
		{name: "glue name itself is referred", qname: "ns.sub.example.com.", qtype: dns.TypeA,
			ns:    []string{"sub.example.com. 3600 IN NS ns.sub.example.com.", "sub.example.com. 3600 IN NS ns1.example.com."},
			extra: []string{"ns.sub.example.com. 3600 IN A 192.0.2.99", "ns1.example.com. 3600 IN A 192.0.2.53"}},
		{name: "DS at the cut is the parent's: NODATA", qname: "sub.example.com.", qtype: dns.TypeDS, aa: true, ns: []string{soa}},
		{name: "child zone served: longest match wins", qname: "www.child.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"www.child.example.com. 3600 IN A 192.0.2.200"}},
		{name: "child apex DS answered by the parent", qname: "child.example.com.", qtype: dns.TypeDS, aa: true, ns: []string{soa}},
		{name: "child NXDOMAIN uses the child SOA (ttl 60)", qname: "nope.child.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			ns: []string{"child.example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 60"}},
		{name: "negative TTL is the SOA TTL when lower", qname: "nope.example.net.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			ns: []string{"example.net. 120 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 900"}},
		{name: "MX with additional addresses", qname: "example.com.", qtype: dns.TypeMX, aa: true,
			answer: []string{"example.com. 3600 IN MX 10 mail.example.com."},
			extra:  []string{"mail.example.com. 3600 IN A 192.0.2.25", "mail.example.com. 3600 IN AAAA 2001:db8::25"}},
		{name: "SRV with additional address", qname: "_sip._udp.example.com.", qtype: dns.TypeSRV, aa: true,
			answer: []string{"_sip._udp.example.com. 3600 IN SRV 10 5 5060 sip.example.com."},
			extra:  []string{"sip.example.com. 3600 IN A 192.0.2.60"}},
		{name: "apex NS with additional addresses", qname: "example.com.", qtype: dns.TypeNS, aa: true,
			answer: []string{"example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.com."},
			extra:  []string{"ns1.example.com. 3600 IN A 192.0.2.53", "ns2.example.com. 3600 IN AAAA 2001:db8::53"}},
		{name: "apex SOA", qname: "example.com.", qtype: dns.TypeSOA, aa: true,
			answer: []string{"example.com. 600 IN SOA ns1.example.com. hostmaster.example.com. 7 7200 3600 1209600 300"}},
		{name: "ANY is minimal (one RRset)", qname: "mail.example.com.", qtype: dns.TypeANY, aa: true,
			answer: []string{"mail.example.com. 3600 IN A 192.0.2.25"}},
		{name: "name outside our zones", qname: "www.example.org.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "parent of our zone", qname: "com.", qtype: dns.TypeNS, rcode: dns.RcodeRefused},
		{name: "AXFR refused", qname: "example.com.", qtype: dns.TypeAXFR, rcode: dns.RcodeRefused},
		{name: "IXFR refused", qname: "example.com.", qtype: dns.TypeIXFR, rcode: dns.RcodeRefused},
		{name: "qtype 0 is FORMERR", qname: "example.com.", qtype: dns.TypeNone, rcode: dns.RcodeFormatError},
		{name: "qtype OPT is FORMERR", qname: "example.com.", qtype: dns.TypeOPT, rcode: dns.RcodeFormatError},
		{name: "MAILB not implemented", qname: "example.com.", qtype: dns.TypeMAILB, rcode: dns.RcodeNotImplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, h, query(tc.qname, tc.qtype), UDP)
			if r == nil {
				t.Fatal("no reply")
			}
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if r.Authoritative != tc.aa {
				t.Errorf("AA %v, want %v", r.Authoritative, tc.aa)
			}
			if r.Question[0].Name != tc.qname {
				t.Errorf("question %q, want %q as sent", r.Question[0].Name, tc.qname)
			}
			for _, s := range []struct {
				name      string
				got, want []string
			}{{"answer", section(r.Answer), tc.answer}, {"authority", section(r.Ns), tc.ns}, {"additional", section(r.Extra), tc.extra}} {
				want := append([]string(nil), s.want...)
				sort.Strings(want)
				if strings.Join(s.got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s section:\n got %q\nwant %q", s.name, s.got, want)
				}
			}
		})
	}
}

func TestHandlerProtocol(t *testing.T) {
	h := newTestHandler(t, Options{ServerID: "unit-7", Chaos: false})

	t.Run("opcode other than QUERY is NOTIMP", func(t *testing.T) {
		m := query("example.com.", dns.TypeSOA)
		m.Opcode = dns.OpcodeUpdate
		if r := exchange(t, h, m, UDP); r.Rcode != dns.RcodeNotImplemented {
			t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		m.Opcode = dns.OpcodeStatus
		if r := exchange(t, h, m, UDP); r.Rcode != dns.RcodeNotImplemented {
			t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("NOTIMP for another opcode clears the flags QUERY defines", func(t *testing.T) {
		for _, op := range []int{dns.OpcodeNotify, dns.OpcodeUpdate, dns.OpcodeStatus, dns.OpcodeIQuery, 7} {
			m := query("example.com.", dns.TypeSOA)
			m.Opcode = op
			m.RecursionDesired, m.CheckingDisabled, m.AuthenticatedData, m.Zero = true, true, true, true
			r := exchange(t, h, m, UDP)
			if r.Rcode != dns.RcodeNotImplemented || r.Opcode != op {
				t.Fatalf("opcode %d: rcode %s, opcode %d", op, dns.RcodeToString[r.Rcode], r.Opcode)
			}
			if r.RecursionDesired || r.CheckingDisabled || r.AuthenticatedData || r.Authoritative || r.RecursionAvailable || r.Zero {
				t.Errorf("opcode %d: flags rd=%v cd=%v ad=%v aa=%v ra=%v z=%v, want all clear", op,
					r.RecursionDesired, r.CheckingDisabled, r.AuthenticatedData, r.Authoritative, r.RecursionAvailable, r.Zero)
			}
		}
		// A message that does not unpack gets a bare header: RD only for QUERY.
		for op, wantRD := range map[byte]bool{0: true, byte(dns.OpcodeNotify): false} {
			q := []byte{0x12, 0x34, op<<3 | 0x01, 0x30, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w'}
			out := h.Serve(q, testClient, UDP, nil)
			if len(out) != 12 || out[3]&0xf != dns.RcodeFormatError || out[3]&0x70 != 0 {
				t.Fatalf("opcode %d: reply %x, want a bare FORMERR header", op, out)
			}
			if rd := out[2]&0x01 != 0; rd != wantRD {
				t.Errorf("opcode %d: RD %v in the FORMERR header, want %v", op, rd, wantRD)
			}
		}
	})
	t.Run("QDCOUNT 0 and 2 are FORMERR", func(t *testing.T) {
		m := query("example.com.", dns.TypeSOA)
		m.Question = nil
		if r := exchange(t, h, m, UDP); r.Rcode != dns.RcodeFormatError {
			t.Errorf("qdcount 0: rcode %s", dns.RcodeToString[r.Rcode])
		}
		m = query("example.com.", dns.TypeSOA)
		m.Question = append(m.Question, dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
		if r := exchange(t, h, m, UDP); r.Rcode != dns.RcodeFormatError {
			t.Errorf("qdcount 2: rcode %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("malformed message gets a header-only FORMERR", func(t *testing.T) {
		q, _ := query("www.example.com.", dns.TypeA).Pack()
		q = q[:len(q)-3] // cut into the question
		r := h.Serve(q, testClient, UDP, nil)
		if len(r) != 12 || r[3]&0xf != dns.RcodeFormatError || r[0] != q[0] || r[1] != q[1] || r[2]&0x80 == 0 {
			t.Errorf("reply %x", r)
		}
	})
	t.Run("responses and runts are dropped", func(t *testing.T) {
		m := query("www.example.com.", dns.TypeA)
		m.Response = true
		if r := exchange(t, h, m, UDP); r != nil {
			t.Errorf("answered a response: %v", r)
		}
		if r := h.Serve([]byte{1, 2, 3}, testClient, UDP, nil); r != nil {
			t.Errorf("answered a runt: %x", r)
		}
	})
	t.Run("classes other than IN are refused", func(t *testing.T) {
		for _, class := range []uint16{dns.ClassCHAOS, dns.ClassHESIOD, dns.ClassNONE, dns.ClassANY} {
			m := query("version.bind.", dns.TypeTXT)
			m.Question[0].Qclass = class
			if r := exchange(t, h, m, UDP); r.Rcode != dns.RcodeRefused {
				t.Errorf("class %d: rcode %s", class, dns.RcodeToString[r.Rcode])
			}
		}
	})
	t.Run("RD and CD are copied, RA is never set", func(t *testing.T) {
		m := query("www.example.com.", dns.TypeA)
		m.RecursionDesired, m.CheckingDisabled = true, true
		r := exchange(t, h, m, UDP)
		if !r.RecursionDesired || !r.CheckingDisabled || r.RecursionAvailable {
			t.Errorf("flags rd=%v cd=%v ra=%v", r.RecursionDesired, r.CheckingDisabled, r.RecursionAvailable)
		}
	})
	t.Run("EDNS: OPT echoed with our size, DO copied, unknown option ignored", func(t *testing.T) {
		m := query("www.example.com.", dns.TypeA)
		m.SetEdns0(4096, true)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2}})
		r := exchange(t, h, m, UDP)
		opt := r.IsEdns0()
		if opt == nil || opt.UDPSize() != DefaultUDPSize || !opt.Do() || opt.Version() != 0 || len(opt.Option) != 0 {
			t.Fatalf("OPT %v", opt)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("reply %v", r)
		}
	})
	t.Run("no OPT in the reply without OPT in the query", func(t *testing.T) {
		if r := exchange(t, h, query("www.example.com.", dns.TypeA), UDP); r.IsEdns0() != nil {
			t.Errorf("unexpected OPT")
		}
	})
	t.Run("EDNS version 1 is BADVERS", func(t *testing.T) {
		m := query("www.example.com.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		r := exchange(t, h, m, UDP)
		if r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil || r.IsEdns0().Version() != 0 || len(r.Answer) != 0 {
			t.Errorf("rcode %s, opt %v", dns.RcodeToString[r.Rcode], r.IsEdns0())
		}
	})
	t.Run("two OPT records are FORMERR", func(t *testing.T) {
		m := query("www.example.com.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.Extra = append(m.Extra, dns.Copy(m.Extra[0]))
		if r := exchange(t, h, m, UDP); r.Rcode != dns.RcodeFormatError {
			t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("OPT outside the additional section is FORMERR", func(t *testing.T) {
		m := query("www.example.com.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.Ns, m.Extra = m.Extra, nil
		if r := exchange(t, h, m, UDP); r.Rcode != dns.RcodeFormatError {
			t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("NSID answered with the server id", func(t *testing.T) {
		m := query("www.example.com.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
		r := exchange(t, h, m, UDP)
		var got string
		for _, o := range r.IsEdns0().Option {
			if n, ok := o.(*dns.EDNS0_NSID); ok {
				got = n.Nsid
			}
		}
		if got != "756e69742d37" { // hex("unit-7")
			t.Errorf("NSID %q", got)
		}
	})
}

func TestHandlerChaos(t *testing.T) {
	h := newTestHandler(t, Options{ServerID: "pop-ams-1", Chaos: true, Version: "Meridian test"})
	for name, want := range map[string]string{"version.bind.": "Meridian test", "ID.Server.": "pop-ams-1", "hostname.bind.": "pop-ams-1"} {
		m := query(name, dns.TypeTXT)
		m.Question[0].Qclass = dns.ClassCHAOS
		r := exchange(t, h, m, UDP)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != want {
			t.Errorf("%s: %v", name, r)
		}
	}
	m := query("authors.bind.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	if r := exchange(t, h, m, UDP); r.Rcode != dns.RcodeRefused {
		t.Errorf("authors.bind: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestHandlerTruncation(t *testing.T) {
	h := newTestHandler(t, Options{})
	t.Run("over 512 without EDNS: TC and no partial RRset", func(t *testing.T) {
		r := exchange(t, h, query("big.example.com.", dns.TypeTXT), UDP)
		if !r.Truncated || len(r.Answer) != 0 {
			t.Errorf("tc=%v answers=%d", r.Truncated, len(r.Answer))
		}
	})
	t.Run("fits with EDNS", func(t *testing.T) {
		m := query("big.example.com.", dns.TypeTXT)
		m.SetEdns0(1232, false)
		r := exchange(t, h, m, UDP)
		if r.Truncated || len(r.Answer) != 3 {
			t.Errorf("tc=%v answers=%d", r.Truncated, len(r.Answer))
		}
	})
	t.Run("TCP is never truncated", func(t *testing.T) {
		r := exchange(t, h, query("big.example.com.", dns.TypeTXT), TCP)
		if r.Truncated || len(r.Answer) != 3 {
			t.Errorf("tc=%v answers=%d", r.Truncated, len(r.Answer))
		}
	})
	t.Run("reply never exceeds our UDP size even if the client allows more", func(t *testing.T) {
		h := newTestHandler(t, Options{UDPSize: 600})
		m := query("big.example.com.", dns.TypeTXT)
		m.SetEdns0(4096, false)
		out := h.Serve(mustPack(t, m), testClient, UDP, nil)
		if len(out) > 600 {
			t.Errorf("reply of %d bytes", len(out))
		}
		r := new(dns.Msg)
		if err := r.Unpack(out); err != nil || !r.Truncated || r.IsEdns0() == nil {
			t.Errorf("reply %v (%v)", r, err)
		}
	})
	t.Run("additional records dropped without TC", func(t *testing.T) {
		// 8 MX targets with addresses overflow 512 only through the additional section.
		files := map[string]string{"t.yaml": `
zone: t.example.
soa: {mname: ns.t.example., rname: h.t.example.}
ns: [ns.t.example.]
records: |
` + mxLines(8)}
		snap, err := zones.Load(writeZones(t, files), nil)
		if err != nil {
			t.Fatal(err)
		}
		var p atomic.Pointer[zones.Snapshot]
		p.Store(snap)
		h := NewHandler(&p, nil, Options{}, nil)
		r := exchange(t, h, query("t.example.", dns.TypeMX), UDP)
		if r.Truncated || len(r.Answer) != 8 || len(r.Extra) == 0 || len(r.Extra) >= 16 {
			t.Errorf("tc=%v answer=%d extra=%d", r.Truncated, len(r.Answer), len(r.Extra))
		}
	})
}

func mxLines(n int) string {
	var b strings.Builder
	for i := range n {
		name := "mail-server-with-a-long-name-" + string(rune('a'+i))
		b.WriteString("  @ IN MX 10 " + name + "\n")
		b.WriteString("  " + name + " IN A 192.0.2." + string(rune('1'+i)) + "\n")
		b.WriteString("  " + name + " IN AAAA 2001:db8::" + string(rune('1'+i)) + "\n")
	}
	return b.String()
}

func mustPack(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testClient is the resolver address handler tests query from.
var testClient = netip.MustParseAddr("127.0.0.1")
