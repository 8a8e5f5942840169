// Package faults checks that operators' mistakes are refused with the file
// and line at startup, and that on reload the previous state keeps serving.
package faults

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/app"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/routing"
)

var netipLoopback = netip.MustParseAddr("127.0.0.1")

const goodZone = `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 1}
ns: [ns1.example.com.]
records: |
  ns1 IN A 192.0.2.53
  www IN A 192.0.2.10
regions:
  us-east: { location: [39.04, -77.49], countries: [US] }
  eu-west: { location: [53.35, -6.26], continents: [EU] }
services:
  api:
    endpoints:
      - { region: us-east, address: 192.0.2.20 }
      - { region: eu-west, address: 198.51.100.20 }
`

// setup writes a configuration and returns its path and directory. The
// zone file and admin_state can be replaced by the caller before loading.
func setup(t *testing.T, zone, adminState string) (cfgPath, dir string) {
	t.Helper()
	dir = t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "zones"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "zones", "example.com.yaml"), []byte(zone), 0o644))
	mmdb, err := os.ReadFile("../../testdata/geoip/demo-city.mmdb")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "city.mmdb"), mmdb, 0o644))
	if adminState != "" {
		must(t, os.WriteFile(filepath.Join(dir, "admin.yaml"), []byte(adminState), 0o644))
	}
	cfg := `listen: ["127.0.0.1:0"]
zones: ` + filepath.Join(dir, "zones") + `
geoip:
  city: ` + filepath.Join(dir, "city.mmdb") + `
http:
  listen: ""
admin_state: ` + filepath.Join(dir, "admin.yaml") + `
`
	cfgPath = filepath.Join(dir, "meridian.yaml")
	must(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	return cfgPath, dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newApp(cfgPath string) (*app.App, error) {
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		return nil, err
	}
	return app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
}

func TestStartupRefusesFaults(t *testing.T) {
	tests := []struct {
		name       string
		zone       string
		adminState string
		prepare    func(t *testing.T, dir string)
		want       []string // substrings of the error
	}{
		{name: "zone file syntax error", zone: goodZone + "  bad: [unclosed\n",
			want: []string{"example.com.yaml:"}},
		{name: "bad record", zone: strings.Replace(goodZone, "www IN A 192.0.2.10", "www IN A 192.0.2", 1),
			want: []string{"example.com.yaml:6:", "bad A"}},
		{name: "unknown region", zone: strings.Replace(goodZone, "region: eu-west, address", "region: eu-wst, address", 1),
			want: []string{"example.com.yaml:14:", `unknown region "eu-wst"`}},
		{name: "check without the port its type needs", zone: goodZone + "checks:\n  web:\n    type: tcp\n    interval: 5s\n",
			want: []string{"example.com.yaml:", "port"}},
		{name: "service names a missing check", zone: strings.Replace(goodZone, "  api:\n", "  api:\n    check: nope\n", 1),
			want: []string{"example.com.yaml:12:", `check "nope" is not defined`}}, // at the check: line
		{name: "admin_state garbage", zone: goodZone, adminState: "endpoints:\n  - [this is not a map\n",
			want: []string{"admin.yaml:"}},
		{name: "admin_state unknown state", zone: goodZone, adminState: "regions:\n  \"example.com./us-east\": sideways\n",
			want: []string{"admin.yaml:2", "sideways"}},
		{name: "missing GeoIP file", zone: goodZone, prepare: func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "city.mmdb")))
		}, want: []string{"city.mmdb"}},
		{name: "corrupt GeoIP file", zone: goodZone, prepare: func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "city.mmdb"), []byte("not a maxmind database"), 0o644))
		}, want: []string{"city.mmdb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfgPath, dir := setup(t, tc.zone, tc.adminState)
			if tc.prepare != nil {
				tc.prepare(t, dir)
			}
			_, err := newApp(cfgPath)
			if err == nil {
				t.Fatal("started with a fault")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// answer asks the App's handler directly (no sockets needed).
func answer(t *testing.T, a *app.App, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	q, _ := m.Pack()
	out := a.Handler.Serve(q, netipLoopback, 0, nil)
	r := new(dns.Msg)
	must(t, r.Unpack(out))
	var got []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			got = append(got, a.A.String())
		}
	}
	return got
}

func TestReloadKeepsServingOnFaults(t *testing.T) {
	cfgPath, dir := setup(t, goodZone, "")
	a, err := newApp(cfgPath)
	must(t, err)
	zoneFile := filepath.Join(dir, "zones", "example.com.yaml")
	before := answer(t, a, "www.example.com.")
	if len(before) != 1 || before[0] != "192.0.2.10" {
		t.Fatalf("answer %v", before)
	}
	faults := map[string]string{
		"syntax error":   goodZone + "  bad: [unclosed\n",
		"bad record":     strings.Replace(goodZone, "192.0.2.10", "192.0.2.999", 1),
		"unknown region": strings.Replace(goodZone, "region: eu-west, address", "region: mars, address", 1),
		"empty file":     "",
	}
	for name, body := range faults {
		must(t, os.WriteFile(zoneFile, []byte(body), 0o644))
		err := a.Reload("test")
		if err == nil || !strings.Contains(err.Error(), "example.com.yaml") {
			t.Errorf("%s: reload error %v does not name the file", name, err)
		}
		if got := answer(t, a, "www.example.com."); len(got) != 1 || got[0] != "192.0.2.10" {
			t.Errorf("%s: the previous zone stopped serving: %v", name, got)
		}
	}
	// A corrupt GeoIP database is refused and the old one keeps locating.
	must(t, os.WriteFile(filepath.Join(dir, "city.mmdb"), []byte("garbage"), 0o644))
	must(t, os.WriteFile(zoneFile, []byte(goodZone), 0o644))
	if err := a.Reload("test"); err == nil || !strings.Contains(err.Error(), "city.mmdb") {
		t.Errorf("corrupt GeoIP accepted on reload: %v", err)
	}
	if loc := a.GeoIP.Lookup(netipLoopback); loc.Country != "US" {
		t.Errorf("old GeoIP database no longer serving: %v", loc)
	}
	// A service query still follows the old database (127.0.0.1 is US).
	svc := a.Zones.Current().Zone("example.com.").Service("api.example.com.")
	if d := a.Router.Decide(svc, dns.TypeA, routing.Client{Addr: netipLoopback, SourceBits: -1}, false); d.Region == nil || d.Region.Name != "us-east" {
		t.Errorf("decision after a refused GeoIP reload: %+v", d)
	}
}
