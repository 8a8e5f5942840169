package ecs_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dns/ecs"
)

// wire is the option data for p as RFC 7871 section 6 lays it out: family,
// source prefix, scope prefix and ceil(source/8) address bytes.
func wire(p netip.Prefix, scope uint8) []byte {
	family, addr := byte(ecs.FamilyIPv4), p.Addr().AsSlice()
	if p.Addr().Is6() {
		family = ecs.FamilyIPv6
	}
	return append([]byte{0, family, byte(p.Bits()), scope}, addr[:(p.Bits()+7)/8]...)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		family uint16
		prefix string // "" when the subnet has no address
		scope  uint8
	}{
		{name: "ipv4 /24", data: []byte{0, 1, 24, 0, 198, 51, 100}, family: 1, prefix: "198.51.100.0/24"},
		{name: "ipv4 /32", data: []byte{0, 1, 32, 0, 198, 51, 100, 7}, family: 1, prefix: "198.51.100.7/32"},
		{name: "ipv4 /0", data: []byte{0, 1, 0, 0}, family: 1, prefix: "0.0.0.0/0"},
		{name: "ipv4 /20 is not byte aligned", data: []byte{0, 1, 20, 0, 198, 51, 96}, family: 1, prefix: "198.51.96.0/20"},
		{name: "ipv4 /9", data: []byte{0, 1, 9, 0, 20, 128}, family: 1, prefix: "20.128.0.0/9"},
		{name: "ipv4 with a scope", data: []byte{0, 1, 24, 16, 198, 51, 100}, family: 1, prefix: "198.51.100.0/24", scope: 16},
		{name: "ipv4 scope /32", data: []byte{0, 1, 24, 32, 198, 51, 100}, family: 1, prefix: "198.51.100.0/24", scope: 32},
		{name: "ipv6 /56", data: []byte{0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0x12}, family: 2, prefix: "2001:db8:2:1200::/56"},
		{name: "ipv6 /128", data: wire(netip.MustParsePrefix("2001:db8::1/128"), 0), family: 2, prefix: "2001:db8::1/128"},
		{name: "ipv6 /0", data: []byte{0, 2, 0, 0}, family: 2, prefix: "::/0"},
		{name: "ipv6 /50", data: wire(netip.MustParsePrefix("2001:db8:2:c000::/50"), 0), family: 2, prefix: "2001:db8:2:c000::/50"},
		{name: "ipv6 scope /128", data: wire(netip.MustParsePrefix("2001:db8::/32"), 128), family: 2, prefix: "2001:db8::/32", scope: 128},
		{name: "family 0 prefix 0", data: []byte{0, 0, 0, 0}, family: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ecs.Parse(tc.data)
			if err != nil {
				t.Fatalf("Parse(%v): %v", tc.data, err)
			}
			if s.Family != tc.family || s.ScopeBits != tc.scope {
				t.Errorf("family %d scope %d, want %d %d", s.Family, s.ScopeBits, tc.family, tc.scope)
			}
			if tc.prefix == "" {
				if s.Addr.IsValid() || s.Prefix().IsValid() || s.SourceBits != 0 {
					t.Errorf("family 0: addr %v prefix %v source %d, want none", s.Addr, s.Prefix(), s.SourceBits)
				}
				return
			}
			want := netip.MustParsePrefix(tc.prefix)
			if s.Prefix() != want || s.Addr != want.Addr() || int(s.SourceBits) != want.Bits() {
				t.Errorf("prefix %v (addr %v, source %d), want %v", s.Prefix(), s.Addr, s.SourceBits, want)
			}
			if s.Addr.Is4() != (tc.family == ecs.FamilyIPv4) {
				t.Errorf("address %v is of the wrong family for %d", s.Addr, tc.family)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	v6 := func(bits, scope byte, n int) []byte {
		return append([]byte{0, 2, bits, scope}, bytes.Repeat([]byte{0x20}, n)...)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"family only", []byte{0, 1}},
		{"three bytes", []byte{0, 1, 24}},
		{"family 3", []byte{0, 3, 24, 0, 198, 51, 100}},
		{"family 3 prefix 0", []byte{0, 3, 0, 0}},
		{"family 256", []byte{1, 0, 0, 0}},
		{"ipv4 source 33", []byte{0, 1, 33, 0, 198, 51, 100, 7, 0}},
		{"ipv4 source 255", []byte{0, 1, 255, 0}},
		{"ipv6 source 129", v6(129, 0, 17)},
		{"ipv4 scope 33", []byte{0, 1, 24, 33, 198, 51, 100}},
		{"ipv6 scope 129", v6(16, 129, 2)},
		{"ipv4 bits beyond /20", []byte{0, 1, 20, 0, 198, 51, 100}},
		{"ipv4 bits beyond /23", []byte{0, 1, 23, 0, 198, 51, 101}},
		{"ipv4 bits beyond /1", []byte{0, 1, 1, 0, 0xc0}},
		{"ipv6 bits beyond /60", []byte{0, 2, 60, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0x12, 0x3f}},
		{"ipv6 bits beyond /127", append(v6(127, 0, 15), 0x01)},
		{"ipv4 address longer than the prefix", []byte{0, 1, 24, 0, 198, 51, 100, 0}},
		{"ipv4 /0 with an address byte", []byte{0, 1, 0, 0, 0}},
		{"ipv4 address shorter than the prefix", []byte{0, 1, 24, 0, 198, 51}},
		{"ipv4 /32 with three bytes", []byte{0, 1, 32, 0, 198, 51, 100}},
		{"ipv4 /20 with two bytes", []byte{0, 1, 20, 0, 198, 51}},
		{"ipv4 full address for /24", []byte{0, 1, 24, 0, 198, 51, 100, 7}},
		{"ipv6 address longer than the prefix", v6(56, 0, 8)},
		{"ipv6 address shorter than the prefix", v6(56, 0, 6)},
		{"ipv6 /128 with 15 bytes", v6(128, 0, 15)},
		{"ipv6 17 bytes", v6(128, 0, 17)},
		{"family 0 with a prefix", []byte{0, 0, 24, 0, 198, 51, 100}},
		{"family 0 with a prefix and no address", []byte{0, 0, 8, 0}},
		{"family 0 with an address byte", []byte{0, 0, 0, 0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ecs.Parse(tc.data)
			if !errors.Is(err, ecs.ErrMalformed) {
				t.Fatalf("Parse(%v) = %+v, %v; want ErrMalformed", tc.data, s, err)
			}
			if s != (ecs.Subnet{}) {
				t.Errorf("Parse returned %+v with the error, want the zero Subnet", s)
			}
		})
	}
}

// packed returns m in wire format.
func packed(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func subnetOption(p string, scope uint8) *dns.EDNS0_SUBNET {
	pr := netip.MustParsePrefix(p)
	family := uint16(ecs.FamilyIPv4)
	if pr.Addr().Is6() {
		family = ecs.FamilyIPv6
	}
	return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: uint8(pr.Bits()), SourceScope: scope, Address: net.IP(pr.Addr().AsSlice())}
}

func TestFind(t *testing.T) {
	withOptions := func(opts ...dns.EDNS0) []byte {
		m := new(dns.Msg)
		m.SetQuestion("www.example.com.", dns.TypeA)
		m.SetEdns0(1232, true)
		m.IsEdns0().Option = opts
		return packed(t, m)
	}
	nsid := &dns.EDNS0_NSID{Code: dns.EDNS0NSID}
	cookie := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}
	padding := &dns.EDNS0_PADDING{Padding: make([]byte, 11)}

	// A response with compressed names in every section and the OPT record
	// after other additional records.
	resp := new(dns.Msg)
	resp.SetQuestion("www.example.com.", dns.TypeA)
	resp.Response, resp.Compress = true, true
	resp.Answer = []dns.RR{
		&dns.CNAME{Hdr: dns.RR_Header{Name: "www.example.com.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 30}, Target: "lb.example.com."},
		&dns.A{Hdr: dns.RR_Header{Name: "lb.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(192, 0, 2, 10)},
	}
	resp.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 30}, Ns: "ns1.example.com."}}
	resp.Extra = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "ns1.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(192, 0, 2, 53)}}
	resp.SetEdns0(1232, false)
	resp.IsEdns0().Option = []dns.EDNS0{cookie, subnetOption("2001:db8:2:1200::/56", 48)}

	noOPT := new(dns.Msg)
	noOPT.SetQuestion("www.example.com.", dns.TypeA)

	tests := []struct {
		name  string
		msg   []byte
		want  []byte
		found bool
	}{
		{name: "ECS only", msg: withOptions(subnetOption("198.51.100.0/24", 0)),
			want: []byte{0, 1, 24, 0, 198, 51, 100}, found: true},
		{name: "other options before ECS", msg: withOptions(nsid, cookie, padding, subnetOption("198.51.96.0/20", 0)),
			want: []byte{0, 1, 20, 0, 198, 51, 96}, found: true},
		{name: "other options after ECS", msg: withOptions(subnetOption("20.4.0.0/16", 0), padding),
			want: []byte{0, 1, 16, 0, 20, 4}, found: true},
		{name: "compressed response", msg: packed(t, resp),
			want: []byte{0, 2, 56, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0x12}, found: true},
		{name: "malformed option data is returned for Parse to reject",
			msg:  withOptions(&dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: []byte{0, 3, 24, 0, 1, 2, 3}}),
			want: []byte{0, 3, 24, 0, 1, 2, 3}, found: true},
		{name: "empty ECS option", msg: withOptions(&dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET}), want: []byte{}, found: true},
		{name: "OPT without ECS", msg: withOptions(nsid, cookie)},
		{name: "OPT without options", msg: withOptions()},
		{name: "no OPT", msg: packed(t, noOPT)},
		{name: "shorter than a header", msg: []byte{0, 1, 0, 0}},
		{name: "counts beyond the message", msg: []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 5}},
		{name: "option longer than the OPT data", msg: func() []byte {
			b := withOptions(subnetOption("198.51.100.0/24", 0))
			b[len(b)-8] = 0xff // ECS option length (code 2, length 2, data 7 bytes)
			return b
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, found := ecs.Find(tc.msg)
			if found != tc.found || !bytes.Equal(data, tc.want) {
				t.Errorf("Find = %v, %v; want %v, %v", data, found, tc.want, tc.found)
			}
		})
	}
}

// TestOptionRoundTrip parses option data, echoes it with a scope through a
// reply packed and unpacked by miekg/dns, and checks the echo carries the
// query's family, source prefix and address with the new scope.
func TestOptionRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		scope uint8
		addr  string
	}{
		{"ipv4 /24", wire(netip.MustParsePrefix("198.51.100.0/24"), 0), 16, "198.51.100.0"},
		{"ipv4 /20", wire(netip.MustParsePrefix("198.51.96.0/20"), 0), 24, "198.51.96.0"},
		{"ipv4 /32", wire(netip.MustParsePrefix("198.51.100.7/32"), 0), 32, "198.51.100.7"},
		{"ipv4 /0", []byte{0, 1, 0, 0}, 0, "0.0.0.0"},
		{"ipv6 /56", wire(netip.MustParsePrefix("2001:db8:2:1200::/56"), 0), 48, "2001:db8:2:1200::"},
		{"ipv6 /128", wire(netip.MustParsePrefix("2001:db8::1/128"), 0), 128, "2001:db8::1"},
		{"family 0", []byte{0, 0, 0, 0}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ecs.Parse(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			opt := s.Option(tc.scope)
			if opt.Code != dns.EDNS0SUBNET || opt.Family != s.Family || opt.SourceNetmask != s.SourceBits || opt.SourceScope != tc.scope {
				t.Errorf("Option = %+v", opt)
			}
			m := new(dns.Msg)
			m.SetQuestion("www.example.com.", dns.TypeA)
			m.Response = true
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = []dns.EDNS0{opt}
			b := packed(t, m)

			var back dns.Msg
			if err := back.Unpack(b); err != nil {
				t.Fatalf("reply does not unpack: %v", err)
			}
			var got *dns.EDNS0_SUBNET
			for _, o := range back.IsEdns0().Option {
				if e, ok := o.(*dns.EDNS0_SUBNET); ok {
					got = e
				}
			}
			if got == nil {
				t.Fatal("no ECS option in the reply")
			}
			if got.Family != s.Family || got.SourceNetmask != s.SourceBits || got.SourceScope != tc.scope {
				t.Errorf("echo family %d source %d scope %d, want %d %d %d",
					got.Family, got.SourceNetmask, got.SourceScope, s.Family, s.SourceBits, tc.scope)
			}
			if tc.addr != "" {
				a, _ := netip.AddrFromSlice(got.Address)
				if a.Unmap() != netip.MustParseAddr(tc.addr) {
					t.Errorf("echo address %v, want %s", got.Address, tc.addr)
				}
			}

			// What we send is itself a valid option with the same subnet.
			data, found := ecs.Find(b)
			if !found {
				t.Fatal("Find does not see the echoed option")
			}
			echo, err := ecs.Parse(data)
			if err != nil {
				t.Fatalf("echoed option does not parse: %v (%v)", err, data)
			}
			if echo.Family != s.Family || echo.Addr != s.Addr || echo.SourceBits != s.SourceBits || echo.ScopeBits != tc.scope {
				t.Errorf("echo parses as %+v, want %+v with scope %d", echo, s, tc.scope)
			}
		})
	}
}

func TestRoutable(t *testing.T) {
	tests := []struct {
		prefix string
		want   bool
	}{
		{"198.51.100.0/24", true}, // documentation ranges stand in for real clients in demos
		{"203.0.113.0/24", true},
		{"192.0.2.0/24", true},
		{"20.4.0.0/16", true},
		{"8.8.8.0/24", true},
		{"198.51.100.7/32", true},
		{"2001:db8:2::/48", true},
		{"2001:db8:2:1200::/56", true},
		{"2a00:1450::/32", true},
		{"10.1.2.0/24", false},
		{"10.0.0.0/8", false},
		{"172.16.0.0/12", false},
		{"192.168.1.0/24", false},
		{"127.0.0.0/8", false},
		{"127.0.0.1/32", false},
		{"169.254.1.0/24", false},
		{"224.0.0.0/24", false},
		{"0.0.0.0/0", false},
		{"0.0.0.0/8", false},
		{"fe80::/64", false},
		{"::/0", false},
		{"::/64", false},
		{"::1/128", false},
		{"fd00:1::/48", false},
		{"ff02::/16", false},
	}
	for _, tc := range tests {
		t.Run(tc.prefix, func(t *testing.T) {
			s, err := ecs.Parse(wire(netip.MustParsePrefix(tc.prefix), 0))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Routable(); got != tc.want {
				t.Errorf("Routable() = %v, want %v", got, tc.want)
			}
		})
	}
	// A zero prefix never names a client, whatever its address says.
	for _, a := range []string{"198.51.100.0", "2001:db8::"} {
		s := ecs.Subnet{Family: ecs.FamilyIPv4, Addr: netip.MustParseAddr(a)}
		if a[0] == '2' {
			s.Family = ecs.FamilyIPv6
		}
		if s.Routable() {
			t.Errorf("%s/0 is routable", a)
		}
	}
	if s, _ := ecs.Parse([]byte{0, 0, 0, 0}); s.Routable() {
		t.Error("family 0 is routable")
	}
}

// TestMappedAddressNotRoutable: an IPv4-mapped address in a family-2 option
// counts prefixes in IPv6 bits, so Meridian falls back to the resolver
// rather than echo a scope that would cover every IPv4 client.
func TestMappedAddressNotRoutable(t *testing.T) {
	s, err := ecs.Parse([]byte{0, 2, 120, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113})
	if err != nil {
		t.Fatal(err)
	}
	if s.Routable() {
		t.Errorf("%v must not be routable", s.Prefix())
	}
}

// TestParseHostBits holds Parse's check of the bits beyond the source
// prefix to netip's masking, for every prefix length of both families and
// every value of the address's last byte.
func TestParseHostBits(t *testing.T) {
	for _, size := range []int{4, 16} {
		family := byte(ecs.FamilyIPv4)
		if size == 16 {
			family = ecs.FamilyIPv6
		}
		for bits := 1; bits <= size*8; bits++ {
			n := (bits + 7) / 8
			for last := range 256 {
				full := make([]byte, 16)
				for i := range n - 1 {
					full[i] = 0xa5
				}
				full[n-1] = byte(last)
				a := netip.AddrFrom16([16]byte(full))
				if size == 4 {
					a = netip.AddrFrom4([4]byte(full[:4]))
				}
				p, _ := a.Prefix(bits)
				clean := p.Addr() == a
				s, err := ecs.Parse(append([]byte{0, family, byte(bits), 0}, full[:n]...))
				if clean != (err == nil) {
					t.Fatalf("/%d last byte %#x: error %v, want clean=%v", bits, last, err, clean)
				}
				if err == nil && s.Addr != a {
					t.Fatalf("/%d last byte %#x: address %v, want %v", bits, last, s.Addr, a)
				}
			}
		}
	}
}

// TestRoutableAgreesWithNetip holds Routable to netip's classification,
// on random addresses of both families and on the edges of every range it
// excludes.
func TestRoutableAgreesWithNetip(t *testing.T) {
	want := func(a netip.Addr) bool {
		return a.IsValid() && !a.Is4In6() && a.IsGlobalUnicast() && !a.IsPrivate()
	}
	var addrs []netip.Addr
	for _, p := range []string{"0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::/127", "::ffff:0:0/96", "fc00::/7", "fe80::/10",
		"fec0::/10", "ff00::/8", "2001:db8::/32", "::/96"} {
		pr := netip.MustParsePrefix(p)
		first := pr.Addr()
		last := first
		for i := pr.Bits(); i < first.BitLen(); i++ {
			b := last.AsSlice()
			b[i/8] |= 0x80 >> (i % 8)
			last, _ = netip.AddrFromSlice(b)
		}
		addrs = append(addrs, first, last, first.Prev(), last.Next())
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], r.Uint64())
		binary.LittleEndian.PutUint64(b[8:], r.Uint64())
		addrs = append(addrs, netip.AddrFrom4([4]byte(b[:4])), netip.AddrFrom16(b))
		b[0] = byte(0xf0 | r.IntN(16)) // the f000::/4 ranges, which random draws rarely reach
		addrs = append(addrs, netip.AddrFrom16(b))
	}
	for _, a := range addrs {
		if !a.IsValid() {
			continue
		}
		if got := (ecs.Subnet{SourceBits: 8, Addr: a}).Routable(); got != want(a) {
			t.Fatalf("%s: Routable %v, netip %v", a, got, want(a))
		}
	}
}
