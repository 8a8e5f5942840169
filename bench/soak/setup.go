package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

// modulePath identifies the repository root by its go.mod.
const modulePath = "github.com/meridian-dns/meridian"

// repoRoot returns the nearest directory at or above the working directory
// whose go.mod declares Meridian's module.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the soak from inside the Meridian repository (no go.mod of " + modulePath + " found)")
		}
		dir = parent
	}
}

// buildMeridian builds ./cmd/meridian from root into dir and returns the
// binary's path.
func buildMeridian(root, dir string) (string, error) {
	bin := filepath.Join(dir, "meridian")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/meridian")
	cmd.Dir = root
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/meridian: %w", err)
	}
	return bin, nil
}

// layout is where the soak keeps its files inside the temporary directory.
type layout struct {
	Dir        string
	Config     string
	Zones      string
	ZoneFile   string
	GeoIP      string // the configured city database
	GeoIPDemo  string // a copy of testdata/geoip/demo-city.mmdb
	GeoIPAlt   string // the same networks with a different build time
	AdminState string
	Queries    string // dnsperf binary input
	Log        string // meridian's stderr
}

// newLayout returns the layout of the temporary directory dir.
func newLayout(dir string) layout {
	return layout{
		Dir:        dir,
		Config:     filepath.Join(dir, "meridian.yaml"),
		Zones:      filepath.Join(dir, "zones"),
		ZoneFile:   filepath.Join(dir, "zones", "example.com.yaml"),
		GeoIP:      filepath.Join(dir, "geoip", "city.mmdb"),
		GeoIPDemo:  filepath.Join(dir, "geoip-demo.mmdb"),
		GeoIPAlt:   filepath.Join(dir, "geoip-alt.mmdb"),
		AdminState: filepath.Join(dir, "admin-state.yaml"),
		Queries:    filepath.Join(dir, "queries.bin"),
		Log:        filepath.Join(dir, "meridian.log"),
	}
}

var configTemplate = template.Must(template.New("config").Parse(`# Written by bench/soak.
listen: ["127.0.0.1:0"]
zones: {{.Zones}}
geoip:
  city: {{.GeoIP}}
http:
  listen: "127.0.0.1:0"
log:
  level: info
  format: text
admin_state: {{.AdminState}}
startup_grace: 2s
# The soak's load comes from one loopback address at rates far above any
# one resolver's: rate limiting would drop most of it.
rrl:
  responses_per_second: 0
`))

// zoneTemplate is the soak's zone: the demo zone's static records, regions
// and www service, plus an api service whose endpoints are health checked
// against the loopback listeners the soak runs. Rewrite and Written change
// on every rewrite.
var zoneTemplate = template.Must(template.New("zone").Parse(`# Written by bench/soak; rewritten every second.
zone: example.com.
ttl: 3600
soa:
  mname: ns1.example.com.
  rname: hostmaster.example.com.
  serial: {{.Serial}}
  refresh: 7200
  retry: 3600
  expire: 1209600
  minimum: 300
ns: [ns1.example.com., ns2.example.com.]
records: |
  ns1        IN A      192.0.2.53
  ns2        IN AAAA   2001:db8::53
  @          IN MX 10  mail
  @          IN TXT    "v=spf1 mx -all"
  mail       IN A      192.0.2.25
  mail       IN AAAA   2001:db8::25
  docs       IN CNAME  www
  status     IN CNAME  api
  *.apps     IN A      192.0.2.80
  *.apps     IN AAAA   2001:db8::80
  sub        IN NS     ns.sub
  ns.sub     IN A      192.0.2.99
  _sip._udp  IN SRV 10 5 5060 sip
  sip        IN A      192.0.2.60
  a.b.c      IN TXT    "deep name; b.c and c are empty non-terminals"
  soak       IN TXT    "rewrite {{.Rewrite}}" "written {{.Written}}"

regions:
  us-east:  { location: [39.04, -77.49], countries: [US, CA, MX] }
  eu-west:  { location: [53.35, -6.26],  continents: [EU, AF] }
  ap-south: { location: [1.35, 103.82],  continents: [AS, OC], networks: [203.0.113.0/24] }
  sa-east:  { location: [-23.55, -46.63] }

checks:
  api-http:
    type: http
    port: {{.CheckPort}}
    path: /healthz
    interval: 500ms
    timeout: 200ms
    rise: 1
    fall: 1

services:
  www:
    ttl: 30
    routing: nearest
    select: weighted
    answers: 2
    endpoints:
      - { region: us-east,  address: 192.0.2.10, weight: 3 }
      - { region: us-east,  address: 192.0.2.11 }
      - { region: us-east,  address: "2001:db8::10" }
      - { region: eu-west,  address: 198.51.100.10 }
      - { region: eu-west,  address: "2001:db8:2::10" }
      - { region: ap-south, address: 203.0.113.10 }
      - { region: sa-east,  address: 198.51.100.30 }
  api:
    ttl: 30
    routing: nearest
    check: api-http
    endpoints:
      - { region: us-east,  address: 192.0.2.20,       check_address: {{index .CheckAddrs 0}} }
      - { region: us-east,  address: "2001:db8::20",   check_address: {{index .CheckAddrs 0}} }
      - { region: eu-west,  address: 198.51.100.20,    check_address: {{index .CheckAddrs 1}} }
      - { region: eu-west,  address: "2001:db8:2::20", check_address: {{index .CheckAddrs 1}} }
      - { region: ap-south, address: 203.0.113.20,     check_address: {{index .CheckAddrs 2}} }
      - { region: sa-east,  address: 198.51.100.40,    check_address: {{index .CheckAddrs 3}} }
`))

// zoneData fills zoneTemplate.
type zoneData struct {
	Serial     uint32
	Rewrite    int
	Written    string
	CheckPort  int
	CheckAddrs []string
}

// renderZone returns the zone file for the given rewrite number.
func renderZone(rewrite, checkPort int, checkAddrs []string) ([]byte, error) {
	var b bytes.Buffer
	err := zoneTemplate.Execute(&b, zoneData{
		Serial:     2026112900 + uint32(rewrite),
		Rewrite:    rewrite,
		Written:    time.Now().UTC().Format(time.RFC3339Nano),
		CheckPort:  checkPort,
		CheckAddrs: checkAddrs,
	})
	return b.Bytes(), err
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path, so the zone watcher never sees a partial file.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".soak-tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeConfig creates the soak's configuration, zone and GeoIP files under
// l.Dir from the repository at root.
func writeConfig(l layout, root string, checkPort int, checkAddrs []string) error {
	for _, d := range []string{l.Zones, filepath.Dir(l.GeoIP)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var cfg strings.Builder
	if err := configTemplate.Execute(&cfg, l); err != nil {
		return err
	}
	if err := os.WriteFile(l.Config, []byte(cfg.String()), 0o644); err != nil {
		return err
	}
	zone, err := renderZone(0, checkPort, checkAddrs)
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.ZoneFile, zone, 0o644); err != nil {
		return err
	}
	demo := filepath.Join(root, "testdata", "geoip", "demo-city.mmdb")
	for _, dst := range []string{l.GeoIP, l.GeoIPDemo} {
		if err := copyFile(demo, dst); err != nil {
			return err
		}
	}
	// The alternate database holds the same networks as the demo but a
	// different build time, so that every replacement changes the file's
	// content and Meridian really swaps databases (it skips a reload that
	// finds identical bytes) while routing stays the same.
	_, err = mmdbbuild.BuildFileOptions(mmdbbuild.FormatCSV,
		[]string{filepath.Join(root, "testdata", "geoip", "demo.csv")}, l.GeoIPAlt,
		mmdbbuild.Options{
			DatabaseType: mmdbbuild.TypeCity,
			BuildTime:    time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC),
			Description:  "Meridian soak: demo networks, alternate build time",
		})
	return err
}

// copyFile copies src to dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
