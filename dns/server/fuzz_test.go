package server_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meridian-dns/meridian/dns/rrl"
	"github.com/meridian-dns/meridian/dns/server"
	"github.com/meridian-dns/meridian/dnssec"
	"github.com/meridian-dns/meridian/metrics"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// fuzzUDPSize is the EDNS buffer size the fuzzed handler advertises and the
// largest UDP reply it may send.
const fuzzUDPSize = 1232

// fuzzClient is the resolver address the fuzzed queries come from; it is in
// the handler's debug networks so _explain queries are exercised too.
var fuzzClient = netip.MustParseAddr("127.0.0.1")

// fuzzHandler returns a handler answering from the demo zones with every
// optional feature on, with the fast path or without it. Its router draws
// a fixed sequence of numbers.
func fuzzHandler(f *testing.F, fullPathOnly bool) *server.Handler {
	h := fuzzHandlerNoRRL(f, fullPathOnly)
	// Response rate limiting as tight as it goes, so that the fuzzer drives
	// every reply, error replies included, through send, slip and drop.
	// The clock stands still, so two handlers given the same queries make
	// the same decisions.
	stopped := time.Unix(1_800_000_000, 0)
	h.RRL = rrl.New(rrl.Config{ResponsesPerSecond: 1, Slip: 2, Clock: func() time.Time { return stopped }})
	h.Metrics = metrics.New(prometheus.NewRegistry(), "fuzz")
	return h
}

// fuzzHandlerNoRRL is fuzzHandler without response rate limiting, so that
// every query with a header gets a reply.
func fuzzHandlerNoRRL(f *testing.F, fullPathOnly bool) *server.Handler {
	f.Helper()
	snap, err := zones.Load(fuzzZones(f), nil)
	if err != nil {
		f.Fatal(err)
	}
	var p atomic.Pointer[zones.Snapshot]
	p.Store(snap)
	r := routing.New(nil, nil)
	r.SetRand(rand.New(rand.NewPCG(1, 2)).Uint64)
	return server.NewHandler(&p, r, server.Options{
		UDPSize:       fuzzUDPSize,
		ServerID:      "fuzz-1",
		Chaos:         true,
		Version:       "fuzz",
		ECS:           true,
		DebugNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		FullPathOnly:  fullPathOnly,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// fuzzSignedZone is a signed zone beside the demo's, so that queries with
// DO are answered with signatures and denial records.
const fuzzSignedZone = `zone: signed.test.
soa: {mname: ns1.signed.test., rname: h.signed.test., serial: 1}
ns: [ns1.signed.test.]
dnssec: {enabled: true, keys: keys, algorithm: ED25519}
records: |
  ns1     IN A     192.0.2.53
  static  IN A     192.0.2.80
  *.wild  IN A     192.0.2.99
  alias   IN CNAME www
  a.b.ent IN TXT   "x"
  cut     IN NS    ns1.elsewhere.test.
regions:
  us-east: { location: [39.04, -77.49] }
services:
  www:
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
`

// fuzzZones returns a directory with the demo zones and fuzzSignedZone,
// made once per fuzz target.
func fuzzZones(f *testing.F) string {
	f.Helper()
	dir := f.TempDir()
	entries, err := os.ReadDir("../../testdata/demo/zones")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("../../testdata/demo/zones", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		f.Fatal(err)
	}
	// Ed25519 signatures are deterministic: two snapshots of these files,
	// one per handler of FuzzFastPath, sign to the same bytes.
	k, err := dnssec.Generate("signed.test.", dns.ED25519, 257, time.Now().Add(-time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	if err := k.WriteFiles(keys); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signed.test.yaml"), []byte(fuzzSignedZone), 0o644); err != nil {
		f.Fatal(err)
	}
	return dir
}

// fuzzPack packs a query, failing the fuzz setup when it does not pack.
func fuzzPack(f *testing.F, m *dns.Msg) []byte {
	f.Helper()
	b, err := m.Pack()
	if err != nil {
		f.Fatalf("packing seed %v: %v", m.Question, err)
	}
	return b
}

// fuzzQuery returns a query for name and qtype with ID id.
func fuzzQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0x1234
	m.RecursionDesired = false
	return m
}

// fuzzSeeds are valid and hostile queries: every path of the handler, and
// messages that are malformed in the ways attackers send them.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	add := func(m *dns.Msg) { seeds = append(seeds, fuzzPack(f, m)) }

	add(fuzzQuery("www.example.com.", dns.TypeA))
	add(fuzzQuery("MaIl.ExAmPlE.cOm.", dns.TypeAAAA))

	m := fuzzQuery("mail.example.com.", dns.TypeA)
	m.SetEdns0(1232, true)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
	add(m)

	m = fuzzQuery("www.example.com.", dns.TypeA)
	m.SetEdns0(4096, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("198.51.100.0").To4(),
	})
	add(m)

	m = fuzzQuery("www.example.com.", dns.TypeAAAA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: 2, SourceNetmask: 56, Address: net.ParseIP("2001:db8:1234::"),
	})
	add(m)

	add(fuzzQuery("example.com.", dns.TypeANY))
	add(fuzzQuery("example.com.", dns.TypeAXFR))

	m = fuzzQuery("version.bind.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	add(m)

	m = fuzzQuery("foo.sub.example.com.", dns.TypeA)
	m.SetEdns0(512, false)
	add(m)

	add(fuzzQuery("x.cdn.example.com.", dns.TypeA))
	add(fuzzQuery("_explain.www.example.com.", dns.TypeTXT))
	add(fuzzQuery("docs.example.com.", dns.TypeA))
	add(fuzzQuery("nope.example.com.", dns.TypeMX))
	add(fuzzQuery("example.org.", dns.TypeA))

	m = fuzzQuery("example.com.", dns.TypeSOA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1) // BADVERS
	add(m)

	m = fuzzQuery("example.com.", dns.TypeSOA)
	m.SetEdns0(1232, false)
	m.Extra = append(m.Extra, m.Extra[0]) // two OPT records: FORMERR
	add(m)

	m = fuzzQuery("example.com.", dns.TypeSOA)
	m.Opcode = dns.OpcodeNotify
	add(m)

	m = new(dns.Msg) // QDCOUNT 0
	m.Id = 0x4242
	add(m)

	m = fuzzQuery("example.com.", dns.TypeA)
	m.Question = append(m.Question, dns.Question{Name: "example.net.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	add(m)

	m = fuzzQuery("example.com.", dns.TypeA)
	m.Response = true // a response: dropped
	add(m)

	// Queries with DO for the signed zone: answers, a wildcard, a CNAME
	// into a service, denial of each kind, a referral; and with CO.
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"static.signed.test.", dns.TypeA}, {"x.wild.signed.test.", dns.TypeA}, {"alias.signed.test.", dns.TypeA},
		{"www.signed.test.", dns.TypeA}, {"nope.signed.test.", dns.TypeA}, {"static.signed.test.", dns.TypeMX},
		{"b.ent.signed.test.", dns.TypeA}, {"x.cut.signed.test.", dns.TypeA}, {"signed.test.", dns.TypeDNSKEY},
		{"signed.test.", dns.TypeNXNAME},
	} {
		m = fuzzQuery(q.name, q.qtype)
		m.SetEdns0(1232, true)
		add(m)
	}
	m = fuzzQuery("nope.signed.test.", dns.TypeA)
	m.SetEdns0(1232, true)
	m.IsEdns0().SetCo()
	add(m)

	// A header cut short, and a header alone.
	seeds = append(seeds, seeds[0][:7], seeds[0][:12])

	// A question whose name is a compression pointer to itself.
	loop := []byte{0xbe, 0xef, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01}
	seeds = append(seeds, loop)

	// An OPT record with an option length running past the message end.
	m = fuzzQuery("example.com.", dns.TypeA)
	m.SetEdns0(1232, false)
	bad := fuzzPack(f, m)
	bad = append(bad[:len(bad)-2], 0x00, 0x08, 0x00, 0x20, 0x00, 0x01)
	seeds = append(seeds, bad)

	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{12, 40, 300} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		b[2] &^= 0x80 // a query, so the handler looks at it
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzServe feeds arbitrary messages to the handler over UDP and TCP and
// checks what must hold for every reply: no panic, a reply exactly when the
// message is a query with a full header, the query's ID and opcode with QR
// set, a message that parses, and a UDP reply that fits the client's buffer.
//
// The same messages also go, over UDP, to a handler with response rate
// limiting as tight as it goes, three times each so that every kind of
// reply is sent, slipped and dropped: it must never panic, a reply it
// sends must keep the same invariants, and a reply it does not send must
// be one that rate limiting dropped.
func FuzzServe(f *testing.F) {
	h, limited := fuzzHandlerNoRRL(f, false), fuzzHandler(f, false)
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	udpBuf := make([]byte, 65535)
	f.Fuzz(func(t *testing.T, query []byte) {
		orig := bytes.Clone(query)
		for _, tr := range []server.Transport{server.UDP, server.TCP} {
			panics := h.Panics.Load()
			var buf []byte
			if tr == server.UDP {
				buf = udpBuf
			}
			reply := h.Serve(query, fuzzClient, tr, buf)
			if n := h.Panics.Load() - panics; n != 0 {
				t.Fatalf("%s: the handler panicked answering %x", tr, query)
			}
			if !bytes.Equal(query, orig) {
				t.Fatalf("%s: the handler modified the query", tr)
			}
			checkFuzzReply(t, tr, query, reply)
		}
		for range 3 {
			panics, dropped := limited.Panics.Load(), rrlDropped(limited)
			reply := limited.Serve(query, fuzzClient, server.UDP, udpBuf)
			if limited.Panics.Load() != panics {
				t.Fatalf("udp with RRL: the handler panicked answering %x", query)
			}
			if !bytes.Equal(query, orig) {
				t.Fatalf("udp with RRL: the handler modified the query")
			}
			header := len(query) >= 12 && query[2]&0x80 == 0
			if reply == nil && header && rrlDropped(limited) != dropped+1 {
				t.Fatalf("udp with RRL: no reply to %x, and rate limiting dropped none", query)
			}
			if reply != nil {
				checkFuzzReply(t, server.UDP, query, reply)
			}
		}
	})
}

// rrlDropped is how many replies h's rate limiting has dropped.
func rrlDropped(h *server.Handler) float64 {
	var m dto.Metric
	if err := h.Metrics.RRLDropped().Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// checkFuzzReply checks the invariants of one reply.
func checkFuzzReply(t *testing.T, tr server.Transport, query, reply []byte) {
	t.Helper()
	drop := len(query) < 12 || query[2]&0x80 != 0
	if drop != (reply == nil) {
		t.Fatalf("%s: reply %x to %x: want a reply exactly when the message is a query with a header", tr, reply, query)
	}
	if reply == nil {
		return
	}
	if len(reply) < 12 {
		t.Fatalf("%s: reply of %d bytes", tr, len(reply))
	}
	if !bytes.Equal(reply[:2], query[:2]) {
		t.Fatalf("%s: reply ID %x, query ID %x", tr, reply[:2], query[:2])
	}
	if reply[2]&0x80 == 0 {
		t.Fatalf("%s: QR not set in reply %x", tr, reply[:4])
	}
	if reply[2]&0x78 != query[2]&0x78 {
		t.Fatalf("%s: reply opcode %d, query opcode %d", tr, reply[2]>>3&0xf, query[2]>>3&0xf)
	}
	if tr == server.TCP && reply[2]&0x02 != 0 {
		t.Fatalf("tcp: TC set in a TCP reply")
	}
	if len(reply) > 65535 {
		t.Fatalf("%s: reply of %d bytes", tr, len(reply))
	}

	req := new(dns.Msg)
	reqErr := req.Unpack(query)
	if tr == server.UDP {
		limit := 512 // RFC 1035 4.2.1, without EDNS
		if reqErr == nil {
			if opt := req.IsEdns0(); opt != nil {
				limit = max(512, min(int(opt.UDPSize()), fuzzUDPSize))
			}
		} else if optionError(reqErr) {
			// The library refuses an EDNS option's content that the
			// server ignores, as it may (an unknown option) or must (a
			// TCP keepalive over UDP, RFC 7828): the reply is
			// bounded by the largest UDP payload the server sends.
			limit = max(512, fuzzUDPSize)
		} else {
			limit = 12 // an unparsable query gets the header back
		}
		if len(reply) > limit {
			t.Fatalf("udp: reply of %d bytes, limit %d, to %x", len(reply), limit, query)
		}
	}

	if len(reply) == 12 {
		// A header-only reply: FORMERR, SERVFAIL or a bare rcode; its
		// counts must say it is empty.
		if c := binary.BigEndian.Uint64(reply[4:12]); c != 0 {
			t.Fatalf("%s: 12-byte reply with section counts %x", tr, reply[4:12])
		}
		return
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(reply); err != nil {
		t.Fatalf("%s: reply does not parse: %v\nquery %x\nreply %x", tr, err, query, reply)
	}
	if reqErr != nil {
		if optionError(reqErr) {
			return // a well-formed reply; the rest compares it with the query the library could not read
		}
		t.Fatalf("%s: a full reply (%s) to a query that does not parse (%v)", tr, dns.RcodeToString[resp.Rcode], reqErr)
	}
	switch {
	case len(req.Question) == 0 && len(resp.Question) != 0,
		len(req.Question) > 0 && (len(resp.Question) != 1 || resp.Question[0] != req.Question[0]):
		t.Fatalf("%s: reply question %v, query question %v", tr, resp.Question, req.Question)
	}
	opts := 0
	for _, rr := range resp.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 || (opts == 1 && req.IsEdns0() == nil) {
		t.Fatalf("%s: %d OPT records in the reply; the query had EDNS: %v", tr, opts, req.IsEdns0() != nil)
	}
}

// fuzzPair is a handler with the answer cache and one without, over their
// own snapshots of the demo zones (round robin counters live in the
// snapshot), with routers that draw the same numbers and see the same
// health.
type fuzzPair struct {
	fast, full *server.Handler
	// ptrs are the handlers' snapshot pointers; snaps[k] are the two
	// snapshots of handler k that reload alternates between.
	ptrs   [2]*atomic.Pointer[zones.Snapshot]
	snaps  [2][2]*zones.Snapshot
	health *fuzzHealth
	loaded int
}

// fuzzHealth is every endpoint up, or, while down is set, those in
// 192.0.2.0/24 (the demo's us-east) failed.
type fuzzHealth struct{ down atomic.Bool }

var usEast = netip.MustParsePrefix("192.0.2.0/24")

func (h *fuzzHealth) Endpoint(ep *zones.Endpoint) routing.EndpointState {
	return routing.EndpointState{Up: !h.down.Load() || !usEast.Contains(ep.Address), Load: -1}
}

func (h *fuzzHealth) MinHealthy(*zones.Service, int) int { return 1 }

// Version numbers the health's two states, so that routing decisions are
// remembered, and must be forgotten when the health changes
// (routing.Versioned).
func (h *fuzzHealth) Version() uint64 {
	if h.down.Load() {
		return 1
	}
	return 0
}

func newFuzzPair(f *testing.F, withRRL bool) *fuzzPair {
	f.Helper()
	p := &fuzzPair{health: &fuzzHealth{}}
	dir := fuzzZones(f)
	for k, fullOnly := range []bool{false, true} {
		for j := range p.snaps[k] {
			snap, err := zones.Load(dir, nil)
			if err != nil {
				f.Fatal(err)
			}
			p.snaps[k][j] = snap
		}
		p.ptrs[k] = new(atomic.Pointer[zones.Snapshot])
		p.ptrs[k].Store(p.snaps[k][0])
		r := routing.New(nil, p.health)
		r.SetRand(rand.New(rand.NewPCG(1, 2)).Uint64)
		h := server.NewHandler(p.ptrs[k], r, server.Options{
			UDPSize: fuzzUDPSize, ServerID: "fuzz-1", Chaos: true, Version: "fuzz", ECS: true,
			DebugNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, FullPathOnly: fullOnly,
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if withRRL {
			stopped := time.Unix(1_800_000_000, 0)
			h.RRL = rrl.New(rrl.Config{ResponsesPerSecond: 1, Slip: 2, Clock: func() time.Time { return stopped }})
		}
		if k == 0 {
			p.fast = h
		} else {
			p.full = h
		}
	}
	return p
}

// reload swaps both handlers to their other snapshot, as a reload does:
// the answer cache starts again.
func (p *fuzzPair) reload() {
	p.loaded ^= 1
	for k := range p.ptrs {
		p.ptrs[k].Store(p.snaps[k][p.loaded])
	}
}

// FuzzFastPath answers each message through a handler with the answer
// cache and one without and requires the same bytes, four times per
// transport: the first ask may fill the cache, the second fails every
// us-east endpoint, the third follows a reload, the fourth brings the
// endpoints back. A second pair does the same with response rate limiting
// as tight as it goes, so slipped and dropped replies must agree too.
func FuzzFastPath(f *testing.F) {
	pairs := []*fuzzPair{newFuzzPair(f, false), newFuzzPair(f, true)}
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query []byte) {
		for _, p := range pairs {
			for _, tr := range []server.Transport{server.UDP, server.TCP} {
				for step := range 4 {
					switch step {
					case 1:
						p.health.down.Store(true)
					case 2:
						p.reload()
					case 3:
						p.health.down.Store(false)
					}
					got := p.fast.Serve(query, fuzzClient, tr, make([]byte, 0, 4096))
					want := p.full.Serve(query, fuzzClient, tr, make([]byte, 0, 4096))
					if !bytes.Equal(got, want) {
						t.Fatalf("%s, step %d of %x:\nfast %x\nfull %x", tr, step, query, got, want)
					}
				}
			}
		}
	})
}

// optionError reports an unpacking error of the library's about the
// content of an EDNS option, in a message otherwise well formed.
func optionError(err error) bool {
	return strings.Contains(err.Error(), "OPT") || strings.Contains(err.Error(), "EDNS0")
}
