package admin

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/app/health"
	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/metrics"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// testZone has three regions, a www service spread over them and a pool
// service of twenty endpoints for the concurrent drain test. Without a
// GeoIP database, clients are placed by the regions' networks, else in the
// first region (us-east).
var testZone = `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 7, minimum: 300}
ns: [ns1.example.com.]
records: |
  ns1 IN A 192.0.2.53
regions:
  us-east:  { location: [39.04, -77.49], countries: [US, CA] }
  eu-west:  { location: [53.35, -6.26], continents: [EU], networks: [198.51.100.0/24] }
  ap-south: { location: [1.35, 103.82], continents: [AS, OC] }
services:
  www:
    ttl: 30
    select: all
    fallback: [us-east, eu-west]
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
      - { region: us-east, address: 192.0.2.11 }
      - { region: eu-west, address: 198.51.100.10 }
      - { region: ap-south, address: 203.0.113.10 }
  pool:
    select: all
    endpoints:
` + poolEndpoints()

const poolSize = 20

func poolEndpoints() string {
	var b strings.Builder
	for i := range poolSize {
		fmt.Fprintf(&b, "      - { region: us-east, address: %s }\n", poolAddr(i))
	}
	return b.String()
}

func poolAddr(i int) string { return fmt.Sprintf("192.0.2.%d", 100+i) }

const (
	// listenAddr is the fixture's http.listen; requests name it as Host.
	listenAddr      = "127.0.0.1:9153"
	allowedClient   = "127.0.0.1:5555"
	forbiddenClient = "192.0.2.7:5555"
	testToken       = "s3cret-token"
)

// fixture is an admin server over a real zone store in a temporary
// directory, with its dependencies at hand.
type fixture struct {
	t        *testing.T
	handler  http.Handler
	deps     Deps
	zoneFile string
	token    string
	// waiting is what Deps.Ready reports.
	waiting atomic.Pointer[[]string]
}

type fixtureOption func(*Config, *Deps)

func withToken(token string) fixtureOption {
	return func(c *Config, _ *Deps) { c.Token = token }
}

func withoutAdminState() fixtureOption {
	return func(_ *Config, d *Deps) { d.AdminState = "" }
}

func newFixture(t *testing.T, opts ...fixtureOption) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, zoneFile: filepath.Join(dir, "example.com.yaml")}
	if err := os.WriteFile(f.zoneFile, []byte(testZone), 0o644); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	store, err := zones.NewStore(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	view := health.NewView(nil)
	reg := prometheus.NewRegistry()
	metrics.New(reg, "test")
	f.deps = Deps{
		Zones:      store,
		Router:     routing.New(nil, view),
		Health:     view,
		Gatherer:   reg,
		AdminState: filepath.Join(t.TempDir(), "admin_state.yaml"),
		Reload:     store.ReloadAndLog,
		Ready: func() []string {
			if w := f.waiting.Load(); w != nil {
				return *w
			}
			return nil
		},
		Version: "test",
		Logger:  logger,
	}
	cfg := Config{Listen: listenAddr}
	for _, o := range opts {
		o(&cfg, &f.deps)
	}
	f.token = cfg.Token
	f.handler = New(cfg, f.deps).Handler()
	return f
}

// request builds a request from the allowed client to the listen address,
// carrying the token when the fixture has one and, unless it is a GET or
// HEAD, a JSON content type, as curl does with --json.
func (f *fixture) request(method, path, body string) *http.Request {
	f.t.Helper()
	r, err := http.NewRequest(method, "http://"+listenAddr+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	r.RemoteAddr = allowedClient
	if f.token != "" {
		r.Header.Set("Authorization", "Bearer "+f.token)
	}
	if method != http.MethodGet && method != http.MethodHead {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func (f *fixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func (f *fixture) do(method, path, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.serve(f.request(method, path, body))
}

// expect checks the status code of w and decodes its JSON body into v
// (when v is not nil).
func expect(t *testing.T, w *httptest.ResponseRecorder, code int, v any) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d; body: %s", w.Code, code, w.Body)
	}
	if v == nil {
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, w.Body)
	}
}

// expectError checks that w is a JSON error with the given status code and
// returns its message.
func expectError(t *testing.T, w *httptest.ResponseRecorder, code int) string {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	expect(t, w, code, &body)
	if body.Error == "" {
		t.Fatalf("error response without an error message: %s", w.Body)
	}
	return body.Error
}

// The status document as the status page and operators read it, with the
// JSON names spelled out so a renamed field fails the test.
type statusDoc struct {
	Version string   `json:"version"`
	Ready   bool     `json:"ready"`
	Waiting []string `json:"waiting_for"`
	Zones   []struct {
		Name    string `json:"name"`
		Serial  uint32 `json:"serial"`
		Records int    `json:"records"`
		File    string `json:"file"`
		Regions []struct {
			Name       string   `json:"name"`
			Latitude   float64  `json:"latitude"`
			Longitude  float64  `json:"longitude"`
			Countries  []string `json:"countries"`
			Continents []string `json:"continents"`
			Admin      string   `json:"admin"`
		} `json:"regions"`
		Services []struct {
			Name    string `json:"name"`
			Routing string `json:"routing"`
			Select  string `json:"select"`
			TTL     uint32 `json:"ttl"`
			AllDown string `json:"all_down"`
			Regions []struct {
				Name    string `json:"name"`
				Up      bool   `json:"up"`
				Healthy int    `json:"healthy"`
				Total   int    `json:"total"`
			} `json:"regions"`
			Endpoints []struct {
				Region  string `json:"region"`
				Address string `json:"address"`
				Weight  int    `json:"weight"`
				State   string `json:"state"`
				Probe   string `json:"probe"`
				Admin   string `json:"admin"`
			} `json:"endpoints"`
		} `json:"services"`
	} `json:"zones"`
}

func (f *fixture) status() statusDoc {
	f.t.Helper()
	var st statusDoc
	expect(f.t, f.do("GET", "/api/v1/status", ""), http.StatusOK, &st)
	return st
}

// endpointState returns the state and admin override of an endpoint of
// service (relative name) as the status document reports them.
func (st statusDoc) endpointState(t *testing.T, service, addr string) (state, admin string) {
	t.Helper()
	for _, z := range st.Zones {
		for _, s := range z.Services {
			if s.Name != service+".example.com." {
				continue
			}
			for _, ep := range s.Endpoints {
				if ep.Address == addr {
					return ep.State, ep.Admin
				}
			}
		}
	}
	t.Fatalf("status has no endpoint %s of %s", addr, service)
	return "", ""
}

// regionAdmin returns the admin override of a region of example.com.
func (st statusDoc) regionAdmin(t *testing.T, region string) string {
	t.Helper()
	for _, z := range st.Zones {
		for _, r := range z.Regions {
			if r.Name == region {
				return r.Admin
			}
		}
	}
	t.Fatalf("status has no region %s", region)
	return ""
}

// answer returns the addresses and region of the www service's A answer
// for client, as the DNS path would decide it now.
func (f *fixture) answer(client string) (addrs []string, region string) {
	f.t.Helper()
	svc := f.deps.Zones.Current().Zone("example.com.").Service("www.example.com.")
	c, err := routing.ParseClient(client)
	if err != nil {
		f.t.Fatal(err)
	}
	d := f.deps.Router.Decide(svc, dns.TypeA, c, false)
	for _, ep := range d.Endpoints {
		addrs = append(addrs, ep.Ident)
	}
	slices.Sort(addrs)
	if d.Region != nil {
		region = d.Region.Name
	}
	return addrs, region
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	var body map[string]string
	expect(t, f.do("GET", "/healthz", ""), http.StatusOK, &body)
	if body["status"] != "ok" {
		t.Errorf("healthz body %v", body)
	}
}

func TestReadyz(t *testing.T) {
	f := newFixture(t)
	waiting := []string{"first round of health checks", "DNS listeners"}
	f.waiting.Store(&waiting)

	var notReady struct {
		Ready   bool     `json:"ready"`
		Waiting []string `json:"waiting_for"`
	}
	expect(t, f.do("GET", "/readyz", ""), http.StatusServiceUnavailable, &notReady)
	if notReady.Ready || !slices.Equal(notReady.Waiting, waiting) {
		t.Errorf("readyz while starting: %+v, want waiting_for %q", notReady, waiting)
	}
	if st := f.status(); st.Ready {
		t.Error("status reports ready while readyz does not")
	}

	f.waiting.Store(nil)
	var ready struct {
		Ready   bool     `json:"ready"`
		Waiting []string `json:"waiting_for"`
	}
	expect(t, f.do("GET", "/readyz", ""), http.StatusOK, &ready)
	if !ready.Ready || len(ready.Waiting) != 0 {
		t.Errorf("readyz once ready: %+v", ready)
	}
	if st := f.status(); !st.Ready {
		t.Error("status reports not ready while readyz does")
	}
}

func TestMetricsEndpoint(t *testing.T) {
	f := newFixture(t)
	w := f.do("GET", "/metrics", "")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	for _, want := range []string{"meridian_build_info{", "meridian_dns_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestToken(t *testing.T) {
	f := newFixture(t, withToken(testToken))
	tests := []struct {
		name, path, auth string
		code             int
	}{
		{"status without token", "/api/v1/status", "", http.StatusUnauthorized},
		{"status with wrong token", "/api/v1/status", "Bearer wrong", http.StatusUnauthorized},
		{"status with token prefix", "/api/v1/status", "Bearer " + testToken[:4], http.StatusUnauthorized},
		{"status with token as basic", "/api/v1/status", "Basic " + testToken, http.StatusUnauthorized},
		{"status with bare token", "/api/v1/status", testToken, http.StatusUnauthorized},
		{"status with token", "/api/v1/status", "Bearer " + testToken, http.StatusOK},
		// The page and its files hold no data; the page asks for the token.
		{"page without token", "/", "", http.StatusOK},
		{"page with wrong token", "/", "Bearer wrong", http.StatusOK},
		{"page with token", "/", "Bearer " + testToken, http.StatusOK},
		{"explain without token", "/api/v1/explain?name=www.example.com&client=192.0.2.1", "", http.StatusUnauthorized},
		{"map without token", "/api/v1/map", "", http.StatusUnauthorized},
		{"static without token", "/static/status.js", "", http.StatusOK},
		{"shapes without token", "/static/countries.json", "", http.StatusOK},
		{"healthz needs no token", "/healthz", "", http.StatusOK},
		{"metrics need no token", "/metrics", "", http.StatusOK},
		{"readyz needs no token", "/readyz", "", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.request("GET", tc.path, "")
			r.Header.Del("Authorization")
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := f.serve(r)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			if tc.code == http.StatusUnauthorized {
				expectError(t, w, http.StatusUnauthorized)
				if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
				}
			}
		})
	}
	for _, path := range []string{"/api/v1/drain", "/api/v1/undrain", "/api/v1/reload"} {
		r := f.request("POST", path, `{"service":"www.example.com.","endpoint":"192.0.2.10"}`)
		r.Header.Del("Authorization")
		expectError(t, f.serve(r), http.StatusUnauthorized)
	}
	if o, _ := healthcheck.LoadOverrides(f.deps.AdminState); len(o.Endpoints()) != 0 {
		t.Errorf("unauthorised drain changed the admin state: %v", o.Endpoints())
	}
}

func TestForbiddenNetwork(t *testing.T) {
	routes := []struct{ method, path, body string }{
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
		{"GET", "/metrics", ""},
		{"GET", "/", ""},
		{"GET", "/static/status.js", ""},
		{"GET", "/api/v1/status", ""},
		{"GET", "/api/v1/map", ""},
		{"GET", "/api/v1/explain?name=www.example.com&client=192.0.2.1", ""},
		{"POST", "/api/v1/drain", `{"service":"www.example.com.","endpoint":"192.0.2.10"}`},
		{"POST", "/api/v1/undrain", `{"service":"www.example.com.","endpoint":"192.0.2.10"}`},
		{"POST", "/api/v1/reload", ""},
		{"GET", "/api/v1/nope", ""},
		{"GET", "/nope", ""},
	}
	for _, token := range []string{"", testToken} {
		f := newFixture(t, withToken(token))
		for _, rt := range routes {
			for _, remote := range []string{forbiddenClient, "[2001:db8::7]:5555", "[::ffff:192.0.2.7]:5555", "not-an-address"} {
				r := f.request(rt.method, rt.path, rt.body)
				r.RemoteAddr = remote
				w := f.serve(r)
				if w.Code != http.StatusForbidden {
					t.Errorf("token %q: %s %s from %s: status %d, want 403", token, rt.method, rt.path, remote, w.Code)
					continue
				}
				expectError(t, w, http.StatusForbidden)
			}
		}
		if o, _ := healthcheck.LoadOverrides(f.deps.AdminState); len(o.Endpoints()) != 0 {
			t.Errorf("forbidden drain changed the admin state: %v", o.Endpoints())
		}
	}
}

func TestAllowedNetworks(t *testing.T) {
	f := newFixture(t)
	for _, remote := range []string{"127.0.0.1:1", "127.1.2.3:1", "[::1]:5555", "[::ffff:127.0.0.1]:5555"} {
		r := f.request("GET", "/healthz", "")
		r.RemoteAddr = remote
		if w := f.serve(r); w.Code != http.StatusOK {
			t.Errorf("default allowed networks: %s got %d, want 200", remote, w.Code)
		}
	}

	// Configured networks replace the loopback default.
	custom := newFixture(t, func(c *Config, _ *Deps) { c.Allowed = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} })
	for remote, code := range map[string]int{forbiddenClient: http.StatusOK, allowedClient: http.StatusForbidden, "[::1]:5555": http.StatusForbidden} {
		r := custom.request("GET", "/api/v1/status", "")
		r.RemoteAddr = remote
		if w := custom.serve(r); w.Code != code {
			t.Errorf("allowed 192.0.2.0/24: %s got %d, want %d", remote, w.Code, code)
		}
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t)
	st := f.status()
	if st.Version != "test" || !st.Ready {
		t.Errorf("version %q ready %v", st.Version, st.Ready)
	}
	if len(st.Zones) != 1 {
		t.Fatalf("%d zones, want 1", len(st.Zones))
	}
	z := st.Zones[0]
	if z.Name != "example.com." || z.Serial != 7 || z.Records == 0 || z.File != f.zoneFile {
		t.Errorf("zone %s serial %d records %d file %s", z.Name, z.Serial, z.Records, z.File)
	}
	var regions []string
	for _, r := range z.Regions {
		regions = append(regions, r.Name)
		if r.Admin != "" {
			t.Errorf("region %s has admin %q before any drain", r.Name, r.Admin)
		}
	}
	if !slices.Equal(regions, []string{"us-east", "eu-west", "ap-south"}) {
		t.Errorf("regions %v", regions)
	}
	if r := z.Regions[0]; r.Latitude != 39.04 || r.Longitude != -77.49 || !slices.Equal(r.Countries, []string{"US", "CA"}) {
		t.Errorf("us-east %+v", r)
	}
	if r := z.Regions[1]; !slices.Equal(r.Continents, []string{"EU"}) {
		t.Errorf("eu-west continents %v", r.Continents)
	}
	if len(z.Services) != 2 {
		t.Fatalf("%d services, want 2", len(z.Services))
	}
	www := z.Services[0]
	if www.Name != "www.example.com." || www.Routing != "nearest" || www.Select != "all" || www.TTL != 30 || www.AllDown != "serve_all" {
		t.Errorf("www: name %s routing %s select %s ttl %d all_down %s", www.Name, www.Routing, www.Select, www.TTL, www.AllDown)
	}
	var eps []string
	for _, ep := range www.Endpoints {
		eps = append(eps, ep.Region+"/"+ep.Address+"/"+ep.State+"/"+ep.Probe)
	}
	want := []string{"us-east/192.0.2.10/up/unchecked", "us-east/192.0.2.11/up/unchecked",
		"eu-west/198.51.100.10/up/unchecked", "ap-south/203.0.113.10/up/unchecked"}
	if !slices.Equal(eps, want) {
		t.Errorf("www endpoints\n got %v\nwant %v", eps, want)
	}
	var rh []string
	for _, r := range www.Regions {
		rh = append(rh, fmt.Sprintf("%s up=%v %d/%d", r.Name, r.Up, r.Healthy, r.Total))
	}
	if want := []string{"us-east up=true 2/2", "eu-west up=true 1/1", "ap-south up=true 1/1"}; !slices.Equal(rh, want) {
		t.Errorf("www regions\n got %v\nwant %v", rh, want)
	}
	if n := len(z.Services[1].Endpoints); n != poolSize {
		t.Errorf("pool has %d endpoints, want %d", n, poolSize)
	}
}

func TestDrainEndpoint(t *testing.T) {
	f := newFixture(t)
	if addrs, _ := f.answer("192.0.2.1"); !slices.Equal(addrs, []string{"192.0.2.10", "192.0.2.11"}) {
		t.Fatalf("answer before the drain: %v", addrs)
	}

	var res map[string]string
	expect(t, f.do("POST", "/api/v1/drain", `{"service":"www.example.com.","endpoint":"192.0.2.10"}`), http.StatusOK, &res)
	if res["result"] != "drained" || !strings.Contains(res["target"], "192.0.2.10") {
		t.Errorf("drain result %v", res)
	}
	saved, err := healthcheck.LoadOverrides(f.deps.AdminState)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := saved.Endpoint("www.example.com.", "192.0.2.10"); !ok || st != healthcheck.AdminDrain {
		t.Errorf("admin_state has %q %v for the drained endpoint, want drain", st, ok)
	}
	if addrs, region := f.answer("192.0.2.1"); !slices.Equal(addrs, []string{"192.0.2.11"}) || region != "us-east" {
		t.Errorf("answer after the drain: %v from %s, want [192.0.2.11] from us-east", addrs, region)
	}
	st := f.status()
	if state, admin := st.endpointState(t, "www", "192.0.2.10"); state != "drained" || admin != "drain" {
		t.Errorf("drained endpoint: state %q admin %q", state, admin)
	}
	if state, admin := st.endpointState(t, "www", "192.0.2.11"); state != "up" || admin != "" {
		t.Errorf("other endpoint: state %q admin %q", state, admin)
	}

	// The service may be named without the final dot.
	expect(t, f.do("POST", "/api/v1/undrain", `{"service":"www.example.com","endpoint":"192.0.2.10"}`), http.StatusOK, &res)
	if res["result"] != "undrained" {
		t.Errorf("undrain result %v", res)
	}
	saved, err = healthcheck.LoadOverrides(f.deps.AdminState)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Endpoints()) != 0 {
		t.Errorf("admin_state still has %v after the undrain", saved.Endpoints())
	}
	if addrs, _ := f.answer("192.0.2.1"); !slices.Equal(addrs, []string{"192.0.2.10", "192.0.2.11"}) {
		t.Errorf("answer after the undrain: %v", addrs)
	}
	if state, admin := f.status().endpointState(t, "www", "192.0.2.10"); state != "up" || admin != "" {
		t.Errorf("undrained endpoint: state %q admin %q", state, admin)
	}
}

func TestDrainRegion(t *testing.T) {
	f := newFixture(t)
	expect(t, f.do("POST", "/api/v1/drain", `{"zone":"example.com.","region":"us-east"}`), http.StatusOK, nil)

	saved, err := healthcheck.LoadOverrides(f.deps.AdminState)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := saved.Region("example.com.", "us-east"); !ok || st != healthcheck.AdminDrain {
		t.Errorf("admin_state has %q %v for the drained region, want drain", st, ok)
	}
	// A client placed in us-east fails over along the fallback list.
	if addrs, region := f.answer("192.0.2.1"); region != "eu-west" || !slices.Equal(addrs, []string{"198.51.100.10"}) {
		t.Errorf("answer with us-east drained: %v from %s, want eu-west", addrs, region)
	}
	st := f.status()
	if admin := st.regionAdmin(t, "us-east"); admin != "drain" {
		t.Errorf("us-east admin %q, want drain", admin)
	}
	if admin := st.regionAdmin(t, "eu-west"); admin != "" {
		t.Errorf("eu-west admin %q", admin)
	}
	for _, addr := range []string{"192.0.2.10", "192.0.2.11"} {
		if state, _ := st.endpointState(t, "www", addr); state != "drained" {
			t.Errorf("%s in the drained region: state %q, want drained", addr, state)
		}
	}
	if state, _ := st.endpointState(t, "www", "198.51.100.10"); state != "up" {
		t.Errorf("eu-west endpoint: state %q", state)
	}

	expect(t, f.do("POST", "/api/v1/undrain", `{"zone":"example.com","region":"us-east"}`), http.StatusOK, nil)
	if admin := f.status().regionAdmin(t, "us-east"); admin != "" {
		t.Errorf("us-east admin %q after the undrain", admin)
	}
	if _, region := f.answer("192.0.2.1"); region != "us-east" {
		t.Errorf("answer from %s after the undrain, want us-east", region)
	}
}

func TestDrainErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, body string
		code       int
	}{
		{"unknown endpoint", `{"service":"www.example.com.","endpoint":"192.0.2.99"}`, http.StatusNotFound},
		{"unknown service", `{"service":"nope.example.com.","endpoint":"192.0.2.10"}`, http.StatusNotFound},
		{"unknown region", `{"zone":"example.com.","region":"mars"}`, http.StatusNotFound},
		{"unknown zone", `{"zone":"example.org.","region":"us-east"}`, http.StatusNotFound},
		{"malformed JSON", `{"service":`, http.StatusBadRequest},
		{"not an object", `["www.example.com.","192.0.2.10"]`, http.StatusBadRequest},
		{"empty body", ``, http.StatusBadRequest},
		{"unknown field", `{"service":"www.example.com.","endpoint":"192.0.2.10","state":"down"}`, http.StatusBadRequest},
		{"service and zone mixed", `{"service":"www.example.com.","endpoint":"192.0.2.10","zone":"example.com.","region":"us-east"}`, http.StatusBadRequest},
		{"service without endpoint", `{"service":"www.example.com."}`, http.StatusBadRequest},
		{"zone without region", `{"zone":"example.com."}`, http.StatusBadRequest},
		{"nothing named", `{}`, http.StatusBadRequest},
	}
	for _, tc := range tests {
		for _, path := range []string{"/api/v1/drain", "/api/v1/undrain"} {
			t.Run(tc.name+path, func(t *testing.T) {
				expectError(t, f.do("POST", path, tc.body), tc.code)
			})
		}
	}
	if _, err := os.Stat(f.deps.AdminState); !os.IsNotExist(err) {
		t.Errorf("failed drains wrote the admin_state file (stat: %v)", err)
	}
	if o := f.deps.Health.Overrides(); len(o.Endpoints())+len(o.Regions()) != 0 {
		t.Errorf("failed drains changed the overrides: %v %v", o.Endpoints(), o.Regions())
	}
}

func TestDrainWithoutAdminState(t *testing.T) {
	f := newFixture(t, withoutAdminState())
	msg := expectError(t, f.do("POST", "/api/v1/drain", `{"service":"www.example.com.","endpoint":"192.0.2.10"}`), http.StatusConflict)
	if !strings.Contains(msg, "admin_state") {
		t.Errorf("409 message does not name admin_state: %s", msg)
	}
	expectError(t, f.do("POST", "/api/v1/undrain", `{"zone":"example.com.","region":"us-east"}`), http.StatusConflict)
	if f.deps.Health.Overrides() != nil {
		t.Error("a drain that could not be persisted was applied")
	}
	if addrs, _ := f.answer("192.0.2.1"); len(addrs) != 2 {
		t.Errorf("answer %v: the unpersisted drain took effect", addrs)
	}
}

// TestConcurrentDrains drains every pool endpoint from its own goroutine:
// each drain reads, changes and saves the whole set, so without
// serialisation some would be lost.
func TestConcurrentDrains(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	codes := make([]int, poolSize)
	for i := range poolSize {
		wg.Go(func() {
			body := fmt.Sprintf(`{"service":"pool.example.com.","endpoint":%q}`, poolAddr(i))
			r := f.request("POST", "/api/v1/drain", body)
			w := httptest.NewRecorder()
			f.handler.ServeHTTP(w, r)
			codes[i] = w.Code
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("drain of %s: status %d", poolAddr(i), code)
		}
	}
	saved, err := healthcheck.LoadOverrides(f.deps.AdminState)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(saved.Endpoints()); n != poolSize {
		t.Errorf("admin_state holds %d drains, want %d: %v", n, poolSize, saved.Endpoints())
	}
	live := f.deps.Health.Overrides()
	for i := range poolSize {
		if st, ok := saved.Endpoint("pool.example.com.", poolAddr(i)); !ok || st != healthcheck.AdminDrain {
			t.Errorf("admin_state lost the drain of %s", poolAddr(i))
		}
		if st, ok := live.Endpoint("pool.example.com.", poolAddr(i)); !ok || st != healthcheck.AdminDrain {
			t.Errorf("overrides in force lost the drain of %s", poolAddr(i))
		}
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(f.deps.AdminState), ".*.tmp"))
	if len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestReload(t *testing.T) {
	f := newFixture(t)
	changed := strings.Replace(testZone,
		"      - { region: us-east, address: 192.0.2.11 }\n",
		"      - { region: us-east, address: 192.0.2.11 }\n      - { region: us-east, address: 192.0.2.12 }\n", 1)
	if err := os.WriteFile(f.zoneFile, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Reloaded bool `json:"reloaded"`
		Zones    int  `json:"zones"`
		Records  int  `json:"records"`
	}
	expect(t, f.do("POST", "/api/v1/reload", ""), http.StatusOK, &res)
	if !res.Reloaded || res.Zones != 1 || res.Records == 0 {
		t.Errorf("reload result %+v", res)
	}
	if state, _ := f.status().endpointState(t, "www", "192.0.2.12"); state != "up" {
		t.Errorf("new endpoint state %q", state)
	}
	if addrs, _ := f.answer("192.0.2.1"); !slices.Equal(addrs, []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"}) {
		t.Errorf("answer after the reload: %v", addrs)
	}

	// A misspelt key: the reload fails naming the file and line, and the
	// zones loaded before keep being served.
	lines := strings.Split(changed, "\n")
	bad := slices.Index(lines, "    ttl: 30")
	if bad < 0 {
		t.Fatal("test zone has no ttl line to break")
	}
	lines[bad] = "    tll: 30"
	if err := os.WriteFile(f.zoneFile, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	var failed struct {
		Reloaded bool   `json:"reloaded"`
		Error    string `json:"error"`
	}
	expect(t, f.do("POST", "/api/v1/reload", ""), http.StatusUnprocessableEntity, &failed)
	if where := fmt.Sprintf("%s:%d:", f.zoneFile, bad+1); failed.Reloaded || !strings.Contains(failed.Error, where) || !strings.Contains(failed.Error, "tll") {
		t.Errorf("failed reload: %+v, want an error at %s naming tll", failed, where)
	}
	if state, _ := f.status().endpointState(t, "www", "192.0.2.12"); state != "up" {
		t.Errorf("after the failed reload the new endpoint's state is %q", state)
	}
	if addrs, _ := f.answer("192.0.2.1"); len(addrs) != 3 {
		t.Errorf("answer after the failed reload: %v, want the previous data", addrs)
	}
}

func TestExplain(t *testing.T) {
	f := newFixture(t)
	var res struct {
		Service string `json:"service"`
		Client  string `json:"client"`
		Answers []struct {
			Type     string   `json:"type"`
			Lines    []string `json:"lines"`
			Decision struct {
				Rule      string   `json:"rule"`
				Region    string   `json:"region"`
				Endpoints []string `json:"endpoints"`
				TTL       uint32   `json:"ttl"`
				Scope     int      `json:"ecs_scope"`
				Degraded  bool     `json:"degraded"`
			} `json:"decision"`
		} `json:"answers"`
	}
	expect(t, f.do("GET", "/api/v1/explain?name=www.example.com&type=A&client=198.51.100.7", ""), http.StatusOK, &res)
	if res.Service != "www.example.com." || res.Client != "198.51.100.7" || len(res.Answers) != 1 {
		t.Fatalf("explain: %+v", res)
	}
	a := res.Answers[0]
	d := a.Decision
	if a.Type != "A" || d.Rule != "network 198.51.100.0/24" || d.Region != "eu-west" ||
		!slices.Equal(d.Endpoints, []string{"198.51.100.10"}) || d.TTL != 30 || d.Degraded {
		t.Errorf("decision %+v", a)
	}
	text := strings.Join(a.Lines, "\n")
	for _, want := range []string{"rule network 198.51.100.0/24 chose region eu-west", "answering from eu-west", "endpoints 198.51.100.10"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}

	// Without a type, both families are explained; ap-south has no IPv6
	// endpoints, so AAAA is NODATA.
	expect(t, f.do("GET", "/api/v1/explain?name=www.example.com.&client=2001:db8::1", ""), http.StatusOK, &res)
	if len(res.Answers) != 2 || res.Answers[0].Type != "A" || res.Answers[1].Type != "AAAA" {
		t.Errorf("explain without type: %+v", res.Answers)
	}

	for _, tc := range []struct {
		query string
		code  int
	}{
		{"name=www.example.com&client=not-an-ip", http.StatusBadRequest},
		{"name=www.example.com&client=198.51.100.0/33", http.StatusBadRequest},
		{"name=www.example.com", http.StatusBadRequest},
		{"client=192.0.2.1", http.StatusBadRequest},
		{"name=www.example.com&type=MX&client=192.0.2.1", http.StatusBadRequest},
		{"name=ns1.example.com&client=192.0.2.1", http.StatusNotFound},
		{"name=nope.example.org&client=192.0.2.1", http.StatusNotFound},
	} {
		expectError(t, f.do("GET", "/api/v1/explain?"+tc.query, ""), tc.code)
	}
}

func TestCountryMap(t *testing.T) {
	f := newFixture(t)
	var res struct {
		Service   string            `json:"service"`
		Countries map[string]string `json:"countries"`
	}
	expect(t, f.do("GET", "/api/v1/map?service=www.example.com", ""), http.StatusOK, &res)
	if res.Service != "www.example.com." {
		t.Errorf("service %q", res.Service)
	}
	for cc, want := range map[string]string{"US": "us-east", "CA": "us-east", "DE": "eu-west", "FR": "eu-west", "JP": "ap-south", "AU": "ap-south"} {
		if got := res.Countries[cc]; got != want {
			t.Errorf("%s -> %q, want %q", cc, got, want)
		}
	}
	if len(res.Countries) < 150 {
		t.Errorf("only %d countries mapped", len(res.Countries))
	}

	// The map follows health: with us-east drained, its countries move.
	expect(t, f.do("POST", "/api/v1/drain", `{"zone":"example.com.","region":"us-east"}`), http.StatusOK, nil)
	expect(t, f.do("GET", "/api/v1/map?service=www.example.com", ""), http.StatusOK, &res)
	if got := res.Countries["US"]; got == "us-east" || got == "" {
		t.Errorf("US -> %q with us-east drained", got)
	}

	// Without a service the first one is mapped.
	expect(t, f.do("GET", "/api/v1/map", ""), http.StatusOK, &res)
	if res.Service != "www.example.com." {
		t.Errorf("default service %q", res.Service)
	}
	expectError(t, f.do("GET", "/api/v1/map?service=nope.example.com", ""), http.StatusNotFound)
}

func TestUnknownAPIPath(t *testing.T) {
	f := newFixture(t, withToken(testToken))
	for _, path := range []string{"/api/v1/nope", "/api/v2/status", "/api/"} {
		msg := expectError(t, f.do("GET", path, ""), http.StatusNotFound)
		if !strings.Contains(msg, path) {
			t.Errorf("404 message does not name %s: %s", path, msg)
		}
	}
}

func TestRecover(t *testing.T) {
	f := newFixture(t)
	f.deps.Ready = func() []string { panic("bug in a readiness check") }
	h := New(Config{}, f.deps).Handler()
	w := httptest.NewRecorder()
	r := f.request("GET", "/readyz", "")
	h.ServeHTTP(w, r)
	expectError(t, w, http.StatusInternalServerError)

	w = httptest.NewRecorder()
	h.ServeHTTP(w, f.request("GET", "/healthz", ""))
	expect(t, w, http.StatusOK, nil)
}
