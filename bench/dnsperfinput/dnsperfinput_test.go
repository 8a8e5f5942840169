package dnsperfinput

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseQuerySpec(t *testing.T) {
	qs, err := ParseSpec(strings.NewReader(`# comment

www.example.com. A
api.example.com aaaa 185.0.65.0/24
  docs.example.com. A 2001:db8:2::/56
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Query{
		{Name: "www.example.com.", Type: dns.TypeA, Line: 3},
		{Name: "api.example.com.", Type: dns.TypeAAAA, Subnet: netip.MustParsePrefix("185.0.65.0/24"), Line: 4},
		{Name: "docs.example.com.", Type: dns.TypeA, Subnet: netip.MustParsePrefix("2001:db8:2::/56"), Line: 5},
	}
	if len(qs) != len(want) {
		t.Fatalf("got %d queries, want %d: %+v", len(qs), len(want), qs)
	}
	for i := range want {
		if qs[i] != want[i] {
			t.Errorf("query %d = %+v, want %+v", i, qs[i], want[i])
		}
	}
}

func TestParseQuerySpecErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"www.example.com.", `1: want "name type [ecs-subnet]"`},
		{"www.example.com. A 10.0.0.0/8 extra", `1: want "name type [ecs-subnet]"`},
		{"\nwww.example.com. BOGUS", `2: unknown query type "BOGUS"`},
		{"www.example.com. A 10.0.0.1/8", "1: ECS subnet 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
		{"www.example.com. A 10.0.0.0", "1: ECS subnet"},
		{"# only a comment", "1: no queries"},
	} {
		_, err := ParseSpec(strings.NewReader(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ParseSpec(%q) = %v, want an error starting %q", tc.in, err, tc.want)
		}
	}
}

// readBinary splits dnsperf -B input back into messages.
func readBinary(t *testing.T, b []byte) []*dns.Msg {
	t.Helper()
	msgs, err := ReadBinary(b)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestWriteDnsperfBinary(t *testing.T) {
	qs := []Query{
		{Name: "www.example.com.", Type: dns.TypeA},
		{Name: "api.example.com.", Type: dns.TypeAAAA, Subnet: netip.MustParsePrefix("185.0.65.0/24")},
		{Name: "docs.example.com.", Type: dns.TypeA, Subnet: netip.MustParsePrefix("2001:db8:2::/56")},
		{Name: "www.example.com.", Type: dns.TypeAAAA, Subnet: netip.MustParsePrefix("185.0.65.0/24"), DO: true},
	}
	var buf bytes.Buffer
	if err := WriteBinary(&buf, qs); err != nil {
		t.Fatal(err)
	}
	msgs := readBinary(t, buf.Bytes())
	if len(msgs) != len(qs) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(qs))
	}
	for i, m := range msgs {
		q := qs[i]
		if m.Id != 0 {
			t.Errorf("message %d has ID %d, want 0 (dnsperf sets its own)", i, m.Id)
		}
		if len(m.Question) != 1 || m.Question[0].Name != q.Name || m.Question[0].Qtype != q.Type {
			t.Errorf("message %d asks %v, want %s %s", i, m.Question, q.Name, dns.TypeToString[q.Type])
		}
		opt := m.IsEdns0()
		if opt == nil || opt.UDPSize() != EDNSSize {
			t.Fatalf("message %d: no EDNS0 with size %d: %v", i, EDNSSize, opt)
		}
		if opt.Do() != q.DO {
			t.Errorf("message %d: DO bit %t, want %t", i, opt.Do(), q.DO)
		}
		var ecs *dns.EDNS0_SUBNET
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				ecs = e
			}
		}
		if !q.Subnet.IsValid() {
			if ecs != nil {
				t.Errorf("message %d has an ECS option it should not have: %v", i, ecs)
			}
			continue
		}
		if ecs == nil {
			t.Fatalf("message %d has no ECS option", i)
		}
		addr, _ := netip.AddrFromSlice(ecs.Address)
		got := netip.PrefixFrom(addr.Unmap(), int(ecs.SourceNetmask))
		if got != q.Subnet || ecs.SourceScope != 0 {
			t.Errorf("message %d: ECS %s scope %d, want %s scope 0", i, got, ecs.SourceScope, q.Subnet)
		}
	}
}
