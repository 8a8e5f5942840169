package geo_test

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/geotest"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

// TestCachedLookup: cached answers equal uncached ones, for hits and
// misses, IPv4, IPv6 and mapped addresses, and a cache never outlives its
// databases (a reload's new set starts empty, so new data is seen at once).
func TestCachedLookup(t *testing.T) {
	db, err := geo.Open(geo.Paths{City: geotest.DemoMMDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"185.0.64.1", "185.0.64.1", "::ffff:185.0.64.1", "2001:db8:2::1", "2001:db8:2::1", "10.9.9.9", "127.0.0.1"} {
		ip := netip.MustParseAddr(s)
		for range 2 {
			if got, want := db.CachedLookup(ip), db.Lookup(ip); got != want {
				t.Errorf("%s: cached %v, uncached %v", s, got, want)
			}
		}
	}
	// Many distinct clients: still correct, and the cache stays bounded.
	for i := range 300_000 {
		ip := netip.AddrFrom4([4]byte{185, 0, byte(i >> 8), byte(i)})
		if i%9973 == 0 {
			if got, want := db.CachedLookup(ip), db.Lookup(ip); got != want {
				t.Fatalf("%s: cached %v, uncached %v", ip, got, want)
			}
			continue
		}
		db.CachedLookup(ip)
	}
}

// TestCachedLookupNetworks: with a City and an ASN database whose
// networks nest and cross, the cache answers every address as an
// uncached lookup does, whichever addresses it saw first.
func TestCachedLookupNetworks(t *testing.T) {
	city := geotest.WriteMMDB(t, []mmdbbuild.Entry{
		{Network: netip.MustParsePrefix("10.0.0.0/8"), Country: "US", Latitude: 39, Longitude: -77, HasCoordinates: true},
		{Network: netip.MustParsePrefix("10.1.0.0/16"), Country: "CA"},
		{Network: netip.MustParsePrefix("10.1.2.0/23"), Country: "MX", Subdivision: "MX-CMX"},
		{Network: netip.MustParsePrefix("11.0.0.0/9"), Country: "DE"},
		{Network: netip.MustParsePrefix("2001:db8:1::/48"), Country: "FR"},
		{Network: netip.MustParsePrefix("2001:db8:1:2::/63"), Country: "BE"},
	})
	asn := geotest.WriteMMDBType(t, []mmdbbuild.Entry{
		{Network: netip.MustParsePrefix("10.0.0.0/12"), ASN: 64500},
		{Network: netip.MustParsePrefix("10.1.3.128/25"), ASN: 64501},
		{Network: netip.MustParsePrefix("8.0.0.0/6"), ASN: 64502},
		{Network: netip.MustParsePrefix("2001:db8::/32"), ASN: 64503},
	}, mmdbbuild.TypeASN)
	r := rand.New(rand.NewPCG(3, 4))
	var ips []netip.Addr
	for range 5000 {
		ips = append(ips,
			netip.AddrFrom4([4]byte{byte(10 + r.IntN(3)), byte(r.IntN(4)), byte(r.IntN(8)), byte(r.IntN(256))}),
			netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, byte(0xb8 + r.IntN(2)), 0, byte(r.IntN(3)), 0, byte(r.IntN(6)), 8: byte(r.IntN(256))}))
	}
	for round := range 3 {
		db, err := geo.Open(geo.Paths{City: city, ASN: asn})
		if err != nil {
			t.Fatal(err)
		}
		r.Shuffle(len(ips), func(i, j int) { ips[i], ips[j] = ips[j], ips[i] })
		for _, ip := range ips {
			if got, want := db.CachedLookup(ip), db.Lookup(ip); got != want {
				t.Fatalf("round %d: %s: cached %v, uncached %v", round, ip, got, want)
			}
		}
	}
}

func BenchmarkCachedLookup(b *testing.B) {
	db, err := geo.Open(geo.Paths{City: geotest.DemoMMDB(b)})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("185.0.64.1")
	b.ReportAllocs()
	for b.Loop() {
		db.CachedLookup(ip)
	}
}

// BenchmarkCachedLookupMany looks up 4,096 client networks in turn, as a
// resolver mix of many ECS subnets does: every lookup hits the cache, but
// not the same entry twice in a row.
func BenchmarkCachedLookupMany(b *testing.B) {
	db, err := geo.Open(geo.Paths{City: geotest.DemoMMDB(b)})
	if err != nil {
		b.Fatal(err)
	}
	ips := make([]netip.Addr, 4096)
	for i := range ips {
		if i%4 == 3 {
			ips[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)})
		} else {
			ips[i] = netip.AddrFrom4([4]byte{byte(1 + i%200), byte(i >> 4), byte(i), 0})
		}
	}
	for _, ip := range ips {
		db.CachedLookup(ip)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		db.CachedLookup(ips[i%len(ips)])
		i++
	}
}

// TestCachedLookupConcurrent: lookups from several goroutines, filling
// the cache as they go, agree with uncached ones (run with -race).
func TestCachedLookupConcurrent(t *testing.T) {
	db, err := geo.Open(geo.Paths{City: geotest.DemoMMDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range 2000 {
				var ip netip.Addr
				if r.IntN(2) == 0 {
					ip = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), 0})
				} else {
					ip = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(8)), byte(r.IntN(256))})
				}
				if got, want := db.CachedLookup(ip), db.Lookup(ip); got != want {
					errs <- ip.String() + ": cached " + got.String() + ", uncached " + want.String()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
