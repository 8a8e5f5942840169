package zones

import (
	"testing"

	"github.com/miekg/dns"
)

// TestZoneTTLIsTheDefaultOfEveryRecord holds the zone's ttl to RFC 2308's
// $TTL semantics: a record's own TTL applies to that record alone, and every
// record without one gets the zone's ttl, whatever came before it.
func TestZoneTTLIsTheDefaultOfEveryRecord(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", header+"ttl: 3600\nrecords: |\n"+
		"  status 300 IN CNAME status.example.net.\n"+
		"  sub        IN NS    ns.sub\n"+
		"  ns.sub     IN A     192.0.2.99\n"+
		"  short 60   IN A     192.0.2.1\n"+
		"  www        IN A     192.0.2.10\n")
	writeFile(t, dir, "r.yaml", "zone: example.org.\nsoa: {mname: ns1.example.org., rname: h.example.org.}\nns: [ns1.example.org.]\n"+
		"ttl: 900\nrecords_file: r.zone\n")
	writeFile(t, dir, "r.zone", "a 30 IN A 192.0.2.1\nb IN A 192.0.2.2\n$TTL 120\nc IN A 192.0.2.3\nd 5 IN A 192.0.2.4\ne IN A 192.0.2.5\n")
	snap, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  uint32
	}{
		{"status.example.com.", dns.TypeCNAME, 300},
		{"sub.example.com.", dns.TypeNS, 3600},
		{"ns.sub.example.com.", dns.TypeA, 3600},
		{"short.example.com.", dns.TypeA, 60},
		{"www.example.com.", dns.TypeA, 3600},
		{"a.example.org.", dns.TypeA, 30},
		{"b.example.org.", dns.TypeA, 900},
		// A $TTL inside the records replaces the zone's ttl from there on.
		{"c.example.org.", dns.TypeA, 120},
		{"d.example.org.", dns.TypeA, 5},
		{"e.example.org.", dns.TypeA, 120},
	} {
		z := snap.findZone(tc.name)
		n := z.nodes[tc.name]
		if n == nil || n.get(tc.qtype) == nil {
			t.Errorf("%s %s: not loaded", tc.name, dns.TypeToString[tc.qtype])
			continue
		}
		if got := n.get(tc.qtype)[0].Header().Ttl; got != tc.want {
			t.Errorf("%s %s: TTL %d, want %d", tc.name, dns.TypeToString[tc.qtype], got, tc.want)
		}
	}
}
