// Package browser tests the admin status page in a real browser: a Meridian
// App runs in process on loopback with one region forced down, Debian's
// headless Chromium loads the page, and the test reads the DOM the page's
// script rendered and compares it with what the JSON API says. A second test
// serves the page with an API that drops every connection and expects the
// error banner. Each run also saves a screenshot for people to look at:
// test/artifacts/status-page.png and status-page-unreachable.png.
//
// Two more tests drive Chromium over the DevTools protocol (cdp_test.go):
// one types the admin token into the page's form when http.token is set
// (status-page-token.png, status-page-signed-in.png), the other opens a
// page of another origin that tries to drain through the admin API with a
// form and a no-cors fetch, and checks that nothing was drained.
//
// Chromium is started with flags that keep it off the network: every host
// name but the loopback address fails to resolve, and background services
// (updates, sync, QUIC) are off. The health checks probe loopback listeners
// that the test runs; the answered addresses are documentation addresses
// that nothing ever connects to.
//
// The tests are skipped when /usr/bin/chromium is missing; on Debian,
// `apt-get install -y chromium` provides it.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/meridian-dns/meridian/app"
	"github.com/meridian-dns/meridian/config"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

const (
	// version is the version the App reports; the page's header shows it.
	version = "browser-test"
	// serverID is the configured server_id, also shown in the header.
	serverID = "browser-1"
	// service is the service the map shows by default: the zone's first.
	service = "www.example.com."
	// probeBlock is the loopback /24 whose addresses the health checks
	// probe; other test packages use other blocks.
	probeBlock = "127.0.41"
	// waitLimit bounds every wait for the App.
	waitLimit = 10 * time.Second
	// browserLimit bounds one Chromium run: about 5 s on an idle
	// two-core machine, far more when other builds share it.
	browserLimit = 90 * time.Second
	// virtualTime is how much page time Chromium lets pass (timers and
	// fetches) before it dumps the DOM or takes the screenshot.
	virtualTime = "5000"
)

// zoneFile is the test zone: four regions, eu-west forced down by the
// admin_state file, and two services. www is health-checked over HTTP; one
// of its ap-south endpoints fails its check, so ap-south is up but degraded.
const zoneFile = `zone: example.com.
soa: { mname: ns1.example.com., rname: hostmaster.example.com. }
ns: [ns1.example.com.]
records: |
  ns1 IN A 192.0.2.53
regions:
  us-east:  { location: [39.04, -77.49], countries: [US, CA, MX] }
  eu-west:  { location: [53.35, -6.26],  continents: [EU, AF] }
  ap-south: { location: [1.35, 103.82],  continents: [AS, OC] }
  sa-east:  { location: [-23.55, -46.63] }
checks:
  web: { type: http, port: %[1]d, path: /healthz, interval: 1s, timeout: 500ms, rise: 1, fall: 1, load_header: X-Load }
services:
  www:
    ttl: 30
    check: web
    endpoints:
      - { region: us-east,  address: 192.0.2.10,    weight: 3, check_address: %[2]s.21 }
      - { region: us-east,  address: 192.0.2.11,               check_address: %[2]s.22 }
      - { region: eu-west,  address: 198.51.100.10,            check_address: %[2]s.23 }
      - { region: eu-west,  address: 198.51.100.11,            check_address: %[2]s.24 }
      - { region: ap-south, address: 203.0.113.10,             check_address: %[2]s.25 }
      - { region: ap-south, address: 203.0.113.11,             check_address: %[2]s.26 }
      - { region: sa-east,  address: 198.51.100.30,            check_address: %[2]s.27 }
  api:
    ttl: 60
    endpoints:
      - { region: us-east, address: 192.0.2.20 }
      - { region: eu-west, address: 198.51.100.20 }
`

// adminState forces eu-west down before the App starts.
const adminState = "regions:\n  \"example.com./eu-west\": down\n"

// failingProbe is the check address whose listener answers 503.
const failingProbe = probeBlock + ".26"

// requireChromium skips the test when the browser is not installed.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found (%v): install Debian's chromium package (apt-get install -y chromium) to run the browser tests", chromiumPath, err)
	}
}

// TestStatusPage renders the status page of a running App with eu-west
// forced down and one ap-south endpoint failing its check, and checks that
// the header, map, legend and tables say so, and that every country is
// shaded for the region /api/v1/map names.
func TestStatusPage(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	begin := time.Now()
	base, _ := startMeridian(t, "")
	t.Logf("Meridian ready at %s after %s", base, time.Since(begin).Round(time.Millisecond))

	var routes struct {
		Service   string            `json:"service"`
		Countries map[string]string `json:"countries"`
	}
	getJSON(t, base+"/api/v1/map?service="+service, &routes)
	if routes.Service != service || len(routes.Countries) < 200 {
		t.Fatalf("/api/v1/map: service %q with %d countries, want %s with every country", routes.Service, len(routes.Countries), service)
	}

	doc := render(t, base+"/", "status-page.png")

	t.Run("header", func(t *testing.T) {
		ready := byID(doc, "ready")
		if ready == nil || attr(ready, "data-ready") != "true" || text(ready) != "Ready" {
			t.Errorf("#ready = %s, want data-ready=true and the text Ready", describe(ready))
		}
		for id, want := range map[string]string{"version": version, "server-id": serverID, "zones": "example.com."} {
			if n := byID(doc, id); n == nil || text(n) != want {
				t.Errorf("#%s = %s, want %q", id, describe(n), want)
			}
		}
		if n := byID(doc, "updated"); n == nil || attr(n, "datetime") == "" {
			t.Errorf("#updated = %s, want a datetime", describe(n))
		}
		if n := byID(doc, "error-banner"); n == nil || !hasAttr(n, "hidden") {
			t.Errorf("#error-banner = %s, want it hidden while the API answers", describe(n))
		}
		problems := byID(doc, "problems")
		forced := find(problems, func(n *html.Node) bool { return n.Data == "li" && attr(n, "data-kind") == "region-admin" })
		if !strings.Contains(text(forced), "eu-west") {
			t.Errorf("#problems has no entry for eu-west's override: %s", describe(problems))
		}
	})

	t.Run("markers", func(t *testing.T) {
		want := map[string]string{"us-east": "up", "eu-west": "down", "ap-south": "degraded", "sa-east": "up"}
		markers := findAll(doc, func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "marker") })
		if len(markers) != len(want) {
			t.Errorf("%d region markers, want %d", len(markers), len(want))
		}
		for _, m := range markers {
			r := attr(m, "data-region")
			if got := attr(m, "data-health"); got != want[r] {
				t.Errorf("marker of %q: data-health %q, want %q", r, got, want[r])
			}
		}
		if n := find(doc, func(n *html.Node) bool { return n.Data == "li" && attr(n, "data-region") == "eu-west" }); n == nil || attr(n, "data-health") != "down" || attr(n, "data-countries") != "0" {
			t.Errorf("legend entry of eu-west = %s, want down with 0 countries", describe(n))
		}
	})

	t.Run("countries", func(t *testing.T) {
		svg := byID(doc, "map")
		if svg == nil || attr(svg, "data-service") != service {
			t.Fatalf("#map = %s, want data-service=%s", describe(svg), service)
		}
		paths := findAll(svg, func(n *html.Node) bool { return n.Data == "path" && hasAttr(n, "data-country") })
		if len(paths) < 200 {
			t.Fatalf("%d country shapes on the map, want at least 200", len(paths))
		}
		shaded := 0
		for _, p := range paths {
			cc := attr(p, "data-country")
			got, want := attr(p, "data-region"), routes.Countries[cc]
			if got != want {
				t.Errorf("country %s shaded for region %q, the API routes it to %q", cc, got, want)
			}
			if got == "eu-west" {
				t.Errorf("country %s is shaded for eu-west, which is down", cc)
			}
			if got != "" {
				shaded++
				if attr(p, "fill") == "" {
					t.Errorf("country %s has data-region %s but no fill", cc, got)
				}
			}
		}
		t.Logf("%d of %d country shapes shaded", shaded, len(paths))
		fr := find(svg, func(n *html.Node) bool { return n.Data == "path" && attr(n, "data-country") == "FR" })
		switch {
		case fr == nil:
			t.Errorf("no shape for FR")
		case attr(fr, "data-region") == "" || attr(fr, "data-region") == "eu-west":
			t.Errorf("FR shaded for %q, want the region eu-west fails over to", attr(fr, "data-region"))
		default:
			t.Logf("FR fails over to %s", attr(fr, "data-region"))
		}
	})

	t.Run("endpoints", func(t *testing.T) {
		table := byID(doc, "endpoints")
		if table == nil {
			t.Fatal("no table#endpoints")
		}
		row := func(addr string) *html.Node {
			return find(table, func(n *html.Node) bool {
				return n.Data == "tr" && attr(n, "data-endpoint") == addr && attr(n, "data-service") == service
			})
		}
		cell := func(tr *html.Node, class string) *html.Node {
			return find(tr, func(n *html.Node) bool { return n.Data == "td" && hasClass(n, class) })
		}
		for _, addr := range []string{"198.51.100.10", "198.51.100.11"} {
			tr := row(addr)
			if tr == nil {
				t.Errorf("no endpoints row for %s", addr)
				continue
			}
			if st := cell(tr, "state"); st == nil || text(st) != "down" || attr(st, "data-state") != "down" {
				t.Errorf("%s state cell = %s, want down", addr, describe(st))
			}
			if ad := cell(tr, "admin"); ad == nil || attr(ad, "data-admin") != "down" || !strings.HasPrefix(text(ad), "down") {
				t.Errorf("%s admin cell = %s, want down (from its region)", addr, describe(ad))
			}
		}
		for _, addr := range []string{"192.0.2.10", "203.0.113.10", "198.51.100.30"} {
			tr := row(addr)
			if st := cell(tr, "state"); st == nil || text(st) != "up" {
				t.Errorf("%s state cell = %s, want up", addr, describe(st))
			}
			if pr := cell(tr, "probe"); pr == nil || text(pr) != "up" {
				t.Errorf("%s probe cell = %s, want up", addr, describe(pr))
			}
		}
		failing := row("203.0.113.11")
		if st := cell(failing, "state"); st == nil || text(st) != "down" {
			t.Errorf("203.0.113.11 (failing its check) state cell = %s, want down", describe(st))
		}
		if e := cell(failing, "error"); e == nil || !strings.Contains(text(e), "503") {
			t.Errorf("203.0.113.11 last error cell = %s, want the HTTP 503", describe(e))
		}
	})

	t.Run("tables", func(t *testing.T) {
		for _, id := range []string{"services", "regions"} {
			if n := byID(doc, id); n == nil || len(findAll(n, func(n *html.Node) bool { return n.Data == "tr" && hasAttr(n, "data-"+strings.TrimSuffix(id, "s")) })) == 0 {
				t.Errorf("table#%s has no rows", id)
			}
		}
		opts := findAll(byID(doc, "service"), func(n *html.Node) bool { return n.Data == "option" })
		if len(opts) != 2 || attr(opts[0], "value") != service {
			t.Errorf("service picker has %d options, want www and api with www first", len(opts))
		}
	})
	t.Logf("whole test took %s", time.Since(begin).Round(time.Millisecond))
}

// TestStatusPageAPIUnreachable serves the page's files from admin/ui with
// the status page's Content-Security-Policy, but every API request has its
// connection closed: the page must show the error banner instead of data.
func TestStatusPageAPIUnreachable(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	ui := filepath.Join("..", "..", "admin", "ui")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		http.ServeFile(w, r, filepath.Join(ui, "index.html"))
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.Dir(ui))))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	doc := render(t, srv.URL+"/", "status-page-unreachable.png")
	banner := byID(doc, "error-banner")
	if banner == nil || hasAttr(banner, "hidden") || !strings.Contains(text(banner), "Cannot reach Meridian's admin API") {
		t.Errorf("#error-banner = %s, want it shown and saying the API cannot be reached", describe(banner))
	}
	if ready := byID(doc, "ready"); attr(ready, "data-ready") == "true" {
		t.Errorf("#ready = %s while no status was ever read, want it not ready", describe(ready))
	}
	if n := len(findAll(doc, func(n *html.Node) bool { return n.Data == "path" && hasAttr(n, "data-country") })); n < 200 {
		t.Errorf("%d country shapes, want the map drawn from the embedded shapes even without the API", n)
	}
}

// TestStatusPageToken: with http.token set, the page asks for the token,
// refuses a wrong one, shows the data once the right one is typed, and
// keeps it for the tab across a reload.
func TestStatusPageToken(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	const token = "browser-test-token-5f1c"
	base, _ := startMeridian(t, token)
	if code := getStatus(t, base, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("GET /api/v1/status without the token: %d, want 401", code)
	}

	b := startDevtools(t)
	tab := b.newPage()
	b.navigate(tab, base+"/")
	b.waitFor(tab, `!document.getElementById("login").hidden`, "the token form")
	doc := b.dom(tab)
	if ready := byID(doc, "ready"); text(ready) != "Token needed" || attr(ready, "data-ready") == "true" {
		t.Errorf("#ready = %s before the token, want Token needed", describe(ready))
	}
	if rows := findAll(byID(doc, "endpoints"), func(n *html.Node) bool { return n.Data == "tr" && hasAttr(n, "data-endpoint") }); len(rows) != 0 {
		t.Errorf("%d endpoint rows before the token was given", len(rows))
	}
	if banner := byID(doc, "error-banner"); !hasAttr(banner, "hidden") {
		t.Errorf("#error-banner = %s, want it hidden while the form asks for the token", describe(banner))
	}
	b.screenshot(tab, "status-page-token.png")

	b.typeInto(tab, "token", "not-the-token")
	b.pressEnter(tab)
	b.waitFor(tab, `!document.getElementById("login").hidden && document.getElementById("login-message").textContent.includes("not accepted")`,
		"the wrong token to be refused")

	b.typeInto(tab, "token", token)
	b.pressEnter(tab)
	loaded := `document.getElementById("ready").dataset.ready === "true" &&
		document.querySelectorAll("#endpoints tr[data-endpoint]").length > 0 &&
		document.querySelectorAll("#map path[data-region]").length > 0`
	b.waitFor(tab, loaded, "the status to load with the token")
	check := func(doc *html.Node) {
		t.Helper()
		if login := byID(doc, "login"); !hasAttr(login, "hidden") {
			t.Errorf("#login = %s with the token given, want it hidden", describe(login))
		}
		for id, want := range map[string]string{"ready": "Ready", "version": version, "server-id": serverID, "zones": "example.com."} {
			if n := byID(doc, id); text(n) != want {
				t.Errorf("#%s = %s, want %q", id, describe(n), want)
			}
		}
		marker := find(doc, func(n *html.Node) bool { return n.Data == "g" && attr(n, "data-region") == "eu-west" })
		if attr(marker, "data-health") != "down" {
			t.Errorf("eu-west marker = %s, want data-health=down", describe(marker))
		}
		row := find(byID(doc, "endpoints"), func(n *html.Node) bool {
			return n.Data == "tr" && attr(n, "data-endpoint") == "198.51.100.10" && attr(n, "data-service") == service
		})
		if attr(row, "data-state") != "down" {
			t.Errorf("endpoint row of 198.51.100.10 = %s, want data-state=down", describe(row))
		}
	}
	check(b.dom(tab))
	var kept string
	if err := b.eval(tab, `sessionStorage.getItem("meridian.token")`, &kept); err != nil || kept != token {
		t.Errorf("sessionStorage holds %q (%v), want the token", kept, err)
	}
	b.screenshot(tab, "status-page-signed-in.png")

	// The token stays for the tab: a reload shows the data without asking.
	b.reload(tab)
	b.waitFor(tab, loaded, "the status to load again after a reload")
	check(b.dom(tab))
}

// TestCrossOriginPageCannotDrain opens, in the browser, a page served from
// another loopback port (same site, another origin) that sends drains to
// the admin API the two ways a page can without CORS: a text/plain form
// whose body is JSON, and a no-cors fetch. Neither may drain; the same
// bodies sent as JSON by a client that is not a browser do, so the page's
// requests were refused for where they came from.
func TestCrossOriginPageCannotDrain(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	base, logs := startMeridian(t, "")
	const fetchBody = `{"service":"www.example.com.","endpoint":"192.0.2.10"}`
	// A text/plain form sends name=value: this name and value make a JSON
	// object whose repeated "region" key keeps its last value.
	const formName, formValue = `{"region":"`, `","zone":"example.com.","region":"us-east"}`
	page := fmt.Sprintf(`<!doctype html>
<title>Another site</title>
<iframe name="sink"></iframe>
<form id="form" method="post" enctype="text/plain" target="sink" action="%[1]s/api/v1/drain">
<input type="hidden" name='%[2]s' value='%[3]s'>
</form>
<script>
(async () => {
  const steps = [];
  try {
    await fetch("%[1]s/api/v1/drain", {method: "POST", mode: "no-cors", body: %[4]q});
    steps.push("fetch sent");
  } catch (e) {
    steps.push("fetch failed: " + e);
  }
  const sink = document.querySelector("iframe");
  const answered = new Promise((resolve) => sink.addEventListener("load", resolve, {once: true}));
  document.getElementById("form").submit();
  await answered;
  steps.push("form sent");
  document.body.dataset.steps = steps.join("; ");
  document.body.dataset.done = "true";
})();
</script>
`, base, formName, formValue, fetchBody)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	defer other.Close()
	if strings.TrimPrefix(other.URL, "http://") == strings.TrimPrefix(base, "http://") {
		t.Fatalf("the other page is served from the admin listener's own address %s", other.URL)
	}

	b := startDevtools(t)
	tab := b.newPage()
	b.navigate(tab, other.URL+"/")
	b.waitFor(tab, `document.body.dataset.done === "true"`, "the other page's requests")
	var steps string
	if err := b.eval(tab, "document.body.dataset.steps", &steps); err != nil || steps != "fetch sent; form sent" {
		t.Errorf("the other page's script: %q (%v), want both requests sent", steps, err)
	}

	var st browserStatus
	getStatus(t, base, "", &st)
	if got := st.regionAdmin("us-east"); got != "" {
		t.Errorf("region us-east has admin state %q after the other page's form, want none", got)
	}
	if got := st.endpointAdmin("192.0.2.10"); got != "" {
		t.Errorf("endpoint 192.0.2.10 has admin state %q after the other page's fetch, want none", got)
	}
	refused := logs.lines("WARN admin request refused", "path=/api/v1/drain")
	if len(refused) != 2 {
		t.Errorf("%d refused drains in the log, want 2 (the form and the fetch):\n%s", len(refused), strings.Join(refused, "\n"))
	}

	for _, body := range []string{formName + "=" + formValue + "\r\n", fetchBody} {
		res, err := http.Post(base+"/api/v1/drain", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("POST %s as JSON from no browser: %s, want 200 OK", body, res.Status)
		}
	}
	getStatus(t, base, "", &st)
	if st.regionAdmin("us-east") != "drain" || st.endpointAdmin("192.0.2.10") != "drain" {
		t.Errorf("the same bodies sent as JSON did not drain: us-east %q, 192.0.2.10 %q", st.regionAdmin("us-east"), st.endpointAdmin("192.0.2.10"))
	}
}

// browserStatus is the part of /api/v1/status these tests read.
type browserStatus struct {
	Zones []struct {
		Regions []struct {
			Name  string `json:"name"`
			Admin string `json:"admin"`
		} `json:"regions"`
		Services []struct {
			Endpoints []struct {
				Address string `json:"address"`
				Admin   string `json:"admin"`
			} `json:"endpoints"`
		} `json:"services"`
	} `json:"zones"`
}

func (s browserStatus) regionAdmin(name string) string {
	for _, z := range s.Zones {
		for _, r := range z.Regions {
			if r.Name == name {
				return r.Admin
			}
		}
	}
	return "(no region " + name + ")"
}

func (s browserStatus) endpointAdmin(addr string) string {
	for _, z := range s.Zones {
		for _, svc := range z.Services {
			for _, ep := range svc.Endpoints {
				if ep.Address == addr {
					return ep.Admin
				}
			}
		}
	}
	return "(no endpoint " + addr + ")"
}

// getStatus reads /api/v1/status with the token (when not empty) into v
// (when not nil) and returns the status code.
func getStatus(t *testing.T, base, token string, v any) int {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/api/v1/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if v != nil {
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/api/v1/status: %s", base, res.Status)
		}
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			t.Fatalf("GET %s/api/v1/status: %v", base, err)
		}
	}
	return res.StatusCode
}

// contentSecurityPolicy is the header admin/page.go sends with the page.
const contentSecurityPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'none'; base-uri 'none'"

// startMeridian runs an App on loopback with the test zone and eu-west
// forced down, and with http.token set to token when it is not empty; waits
// until /readyz answers 200, and returns the admin interface's base URL and
// the App's log. It stops the App when the test ends.
func startMeridian(t *testing.T, token string) (string, *logRecorder) {
	t.Helper()
	port := serveProbes(t)
	dir := t.TempDir()
	zonesDir := filepath.Join(dir, "zones")
	if err := os.Mkdir(zonesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(zonesDir, "example.com.yaml"), fmt.Sprintf(zoneFile, port, probeBlock))
	statePath := filepath.Join(dir, "admin-state.yaml")
	write(t, statePath, adminState)
	mmdb, err := filepath.Abs(filepath.Join("..", "..", "testdata", "geoip", "demo-city.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "meridian.yaml")
	write(t, cfgPath, fmt.Sprintf(`listen: ["127.0.0.1:0"]
zones: %q
geoip:
  city: %q
http:
  listen: 127.0.0.1:0
  token: %q
server_id: %s
admin_state: %q
startup_grace: 1s
log:
  level: info
`, zonesDir, mmdb, token, serverID, statePath))
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	logs := &logRecorder{started: make(chan struct{})}
	a, err := app.New(cfg, slog.New(logs), version)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Errorf("Run did not return within %s of cancelling", waitLimit)
		}
		if t.Failed() {
			t.Logf("App log:\n%s", logs.text())
		}
	})

	// The "meridian started" record is logged from Run's goroutine after
	// the admin listener is bound; receiving it makes Admin.Addr safe to
	// read here.
	select {
	case <-logs.started:
	case err := <-done:
		t.Fatalf("Run returned before starting: %v", err)
	case <-time.After(waitLimit):
		t.Fatalf("App did not start within %s", waitLimit)
	}
	base := "http://" + a.Admin.Addr()
	deadline := time.Now().Add(waitLimit)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz did not answer 200 within %s (last: %v)", base, waitLimit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serveProbes listens on .21 to .27 of probeBlock, all on one port, and
// answers the health checks there: 503 at failingProbe, 200 with a load
// everywhere else. It returns the port.
func serveProbes(t *testing.T) int {
	t.Helper()
	var addrs []string
	for i := 21; i <= 27; i++ {
		addrs = append(addrs, fmt.Sprintf("%s.%d", probeBlock, i))
	}
	port, lns := listenTCP(t, addrs)
	for i, ln := range lns {
		load := fmt.Sprintf("0.%d", 2+i)
		failing := ln.Addr().(*net.TCPAddr).IP.String() == failingProbe
		srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if failing {
				http.Error(w, "maintenance", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("X-Load", load)
			fmt.Fprintln(w, "ok")
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	return port
}

// listenTCP binds every address on one free port.
func listenTCP(t *testing.T, addrs []string) (int, []net.Listener) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", addrs[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, a := range addrs[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, fmt.Sprint(port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(addrs) {
			return port, lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatalf("no TCP port free on all of %v", addrs)
	return 0, nil
}

// render loads url in Chromium and returns the DOM its scripts built. The
// same run saves a 1400x1000 screenshot as test/artifacts/<shot>: one run
// does both because Chromium's start-up is most of the cost.
func render(t *testing.T, url, shot string) *html.Node {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "artifacts", shot))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	start := time.Now()
	dom, err := chromium("--dump-dom", "--screenshot="+path, "--window-size=1400,1000", "--hide-scrollbars", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Chromium rendered %s in %s", url, time.Since(start).Round(time.Millisecond))
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot written to %s: %v", path, err)
	} else {
		t.Logf("screenshot: %s", path)
	}
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatalf("parsing the dumped DOM: %v", err)
	}
	return doc
}

// chromium runs headless Chromium with a fresh profile on the given
// arguments and returns what it wrote to standard output.
func chromium(args ...string) ([]byte, error) {
	profile, err := os.MkdirTemp("", "meridian-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(context.Background(), browserLimit)
	defer cancel()
	flags := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--no-default-browser-check", "--disable-extensions",
		// Nothing but the loopback address the page is served from resolves.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--user-data-dir=" + profile,
		"--virtual-time-budget=" + virtualTime,
		"--run-all-compositor-stages-before-draw",
	}
	cmd := exec.CommandContext(ctx, chromiumPath, append(flags, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Chromium's helper processes may hold the pipes open briefly after the
	// browser exits.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", chromiumPath, strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	return stdout.Bytes(), nil
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// logRecorder is the App's slog handler: it keeps the log for failure
// reports and closes started at the "meridian started" record.
type logRecorder struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	once    sync.Once
	started chan struct{}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	fmt.Fprintf(&l.buf, "%s %s %s", r.Time.Format("15:04:05.000"), r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&l.buf, " %s=%v", a.Key, a.Value)
		return true
	})
	l.buf.WriteByte('\n')
	l.mu.Unlock()
	if r.Message == "meridian started" {
		l.once.Do(func() { close(l.started) })
	}
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the log lines that contain every one of parts.
func (l *logRecorder) lines(parts ...string) []string {
	var out []string
	for _, line := range strings.Split(l.text(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok && line != "" {
			out = append(out, line)
		}
	}
	return out
}

// DOM helpers over golang.org/x/net/html.

func find(root *html.Node, match func(*html.Node) bool) *html.Node {
	if all := findAll(root, match); len(all) > 0 {
		return all[0]
	}
	return nil
}

func findAll(root *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if root == nil {
		return nil
	}
	for n := range root.Descendants() {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
	}
	return out
}

func byID(root *html.Node, id string) *html.Node {
	return find(root, func(n *html.Node) bool { return attr(n, "id") == id })
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	if n == nil {
		return false
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func hasClass(n *html.Node, class string) bool {
	return strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
}

// text is the element's text content with runs of white space collapsed.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// describe renders an element for a failure message.
func describe(n *html.Node) string {
	if n == nil {
		return "missing"
	}
	var b bytes.Buffer
	html.Render(&b, n)
	return tail(b.String(), 300)
}
