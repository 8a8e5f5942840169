package admin

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

const drainUSEast = `{"zone":"example.com.","region":"us-east"}`

// expectNoOverrides fails when a refused request changed the overrides in
// force or wrote the admin_state file.
func (f *fixture) expectNoOverrides(what string) {
	f.t.Helper()
	if o := f.deps.Health.Overrides(); o != nil && len(o.Endpoints())+len(o.Regions()) != 0 {
		f.t.Errorf("%s changed the overrides: %v %v", what, o.Endpoints(), o.Regions())
	}
	if _, err := os.Stat(f.deps.AdminState); !os.IsNotExist(err) {
		f.t.Errorf("%s wrote the admin_state file (stat: %v)", what, err)
	}
}

// TestStateChangesNeedJSON: a state-changing request must say its body is
// JSON. An HTML form (urlencoded, multipart or text/plain) and a no-cors
// fetch cannot, so they change nothing even when the body is valid JSON.
func TestStateChangesNeedJSON(t *testing.T) {
	f := newFixture(t)
	reloads := 0
	reload := f.deps.Reload
	f.deps.Reload = func(reason string) error { reloads++; return reload(reason) }
	f.handler = New(Config{Listen: listenAddr}, f.deps).Handler()

	for _, ct := range []string{"", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/jsonx", "application/json-seq", "text/json", "application/json; charset", "application/json; =x"} {
		for _, path := range []string{"/api/v1/drain", "/api/v1/undrain", "/api/v1/reload"} {
			r := f.request("POST", path, drainUSEast)
			r.Header.Set("Content-Type", ct)
			if ct == "" {
				r.Header.Del("Content-Type")
			}
			if msg := expectError(t, f.serve(r), http.StatusUnsupportedMediaType); !strings.Contains(msg, "application/json") {
				t.Errorf("POST %s with %q: 415 message does not name application/json: %s", path, ct, msg)
			}
		}
	}
	f.expectNoOverrides("a POST without a JSON content type")
	if reloads != 0 {
		t.Errorf("a POST without a JSON content type reloaded %d times", reloads)
	}

	// Media types compare without case and take parameters.
	for _, ct := range []string{"application/json", "Application/JSON", "application/json; charset=utf-8", `application/json;charset="UTF-8"`, "application/json;"} {
		r := f.request("POST", "/api/v1/drain", drainUSEast)
		r.Header.Set("Content-Type", ct)
		expect(t, f.serve(r), http.StatusOK, nil)
	}
	r := f.request("POST", "/api/v1/reload", "")
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	expect(t, f.serve(r), http.StatusOK, nil)
	if reloads != 1 {
		t.Errorf("%d reloads, want 1", reloads)
	}
}

// TestCrossOriginStateChangesRefused: a browser marks a request from
// another site's page with Sec-Fetch-Site and Origin; such a request is
// refused even with a JSON body.
func TestCrossOriginStateChangesRefused(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, site, origin string
	}{
		{"Sec-Fetch-Site cross-site", "cross-site", ""},
		{"Sec-Fetch-Site same-site", "same-site", ""},
		{"Sec-Fetch-Site unknown value", "cross-origin", ""},
		{"Origin of another site", "", "http://evil.example"},
		{"Origin of another site with same-origin claimed", "same-origin", "http://evil.example"},
		{"Origin of another port", "", "http://127.0.0.1:9154"},
		{"Origin of another scheme", "", "https://127.0.0.1:9153"},
		{"Origin of another name for this address", "", "http://localhost:9153"},
		{"Origin null", "", "null"},
		{"Origin not a URL", "", "::"},
	}
	for _, tc := range tests {
		for _, path := range []string{"/api/v1/drain", "/api/v1/undrain", "/api/v1/reload", "/api/v1/nope"} {
			t.Run(tc.name+path, func(t *testing.T) {
				r := f.request("POST", path, drainUSEast)
				if tc.site != "" {
					r.Header.Set("Sec-Fetch-Site", tc.site)
				}
				if tc.origin != "" {
					r.Header.Set("Origin", tc.origin)
				}
				msg := expectError(t, f.serve(r), http.StatusForbidden)
				if !strings.Contains(msg, "cross-origin") {
					t.Errorf("403 message %q does not say why", msg)
				}
			})
		}
	}
	f.expectNoOverrides("a cross-origin POST")

	// The server's own page, and requests from no page at all, pass.
	for _, h := range []map[string]string{
		{},
		{"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:9153"},
		{"Sec-Fetch-Site": "none"},
		{"Origin": "HTTP://127.0.0.1:9153"},
	} {
		r := f.request("POST", "/api/v1/drain", drainUSEast)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		expect(t, f.serve(r), http.StatusOK, nil)
	}
	if admin := f.status().regionAdmin(t, "us-east"); admin != "drain" {
		t.Errorf("us-east admin %q after a same-origin drain, want drain", admin)
	}
}

// TestHostChecked: a page that points a name of its own at the admin
// listener (DNS rebinding) sends that name as Host, and gets nothing but
// the health probes.
func TestHostChecked(t *testing.T) {
	f := newFixture(t, withToken(testToken))
	for _, host := range []string{"evil.example:9153", "evil.example", "localhost.evil.example:9153", "127.0.0.1.nip.io:9153", "0.0.0.0:9153", ""} {
		for _, path := range []string{"/api/v1/status", "/api/v1/map", "/api/v1/explain?name=www.example.com&client=192.0.2.1", "/metrics", "/", "/static/status.js", "/nope"} {
			r := f.request("GET", path, "")
			r.Host = host
			if msg := expectError(t, f.serve(r), http.StatusMisdirectedRequest); !strings.Contains(msg, "allowed_hosts") {
				t.Errorf("GET %s with Host %q: 421 message does not name allowed_hosts: %s", path, host, msg)
			}
		}
		r := f.request("POST", "/api/v1/drain", drainUSEast)
		r.Host = host
		expectError(t, f.serve(r), http.StatusMisdirectedRequest)
		for _, path := range []string{"/healthz", "/readyz"} {
			r := f.request("GET", path, "")
			r.Host = host
			expect(t, f.serve(r), http.StatusOK, nil)
		}
	}
	f.expectNoOverrides("a POST with a foreign Host")
}

func TestAllowedHosts(t *testing.T) {
	tests := []struct {
		name    string
		listen  string
		allowed []string
		hosts   map[string]bool
	}{
		{"defaults", "127.0.0.1:9153", nil, map[string]bool{
			"127.0.0.1:9153": true, "127.0.0.1": true, "localhost:9153": true, "LocalHost:9153": true,
			"localhost.:9153": true, "localhost": true, "[::1]:9153": true, "[::1]": true,
			"[0:0:0:0:0:0:0:1]:9153": true,
			"localhost:9154":         false, "127.0.0.1:80": false, "127.0.0.2:9153": false, "::1": false,
			"[::1:9153": false, "localhost:": false, "localhost:09153": false, "[127.0.0.1]:9153": false,
			"example.com:9153": false,
		}},
		{"defaults on a private address", "10.1.2.3:9153", nil, map[string]bool{
			"10.1.2.3:9153": true, "10.1.2.3": true, "localhost:9153": true,
			"10.1.2.3:9154": false, "10.1.2.4:9153": false,
		}},
		{"defaults on every address", "0.0.0.0:9153", nil, map[string]bool{
			"localhost:9153": true, "127.0.0.1:9153": true,
			"0.0.0.0:9153": false, "meridian:9153": false,
		}},
		{"defaults on every IPv6 address", "[::]:9153", nil, map[string]bool{
			"[::1]:9153": true, "[::]:9153": false,
		}},
		{"configured", "0.0.0.0:9153", []string{"Meridian.Example.NET", "10.1.2.3:8080", "[2001:db8::1]"}, map[string]bool{
			"meridian.example.net:9153": true, "meridian.example.net": true, "MERIDIAN.example.net.:9153": true,
			"10.1.2.3:8080": true, "[2001:db8::1]:9153": true, "[2001:db8:0::1]": true,
			"meridian.example.net:80": false, "10.1.2.3:9153": false, "10.1.2.3": false,
			"localhost:9153": false, "127.0.0.1:9153": false, "[2001:db8::1]:80": false,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config, _ *Deps) { c.Listen, c.AllowedHosts = tc.listen, tc.allowed })
			for host, ok := range tc.hosts {
				r := f.request("GET", "/api/v1/status", "")
				r.Host = host
				want := http.StatusMisdirectedRequest
				if ok {
					want = http.StatusOK
				}
				if w := f.serve(r); w.Code != want {
					t.Errorf("Host %q: status %d, want %d", host, w.Code, want)
				}
			}
		})
	}
}

// TestHostOfTheConnection runs the handler on a real loopback listener:
// the port compared is the one the connection arrived on, and the address
// it arrived on is allowed as Host even when it is no configured name,
// which is how the kubelet and Prometheus name a pod.
func TestHostOfTheConnection(t *testing.T) {
	f := newFixture(t, func(c *Config, _ *Deps) { c.Listen, c.AllowedHosts = "0.0.0.0:9153", []string{"meridian.example.net"} })
	srv := httptest.NewServer(f.handler)
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	port := addr[strings.LastIndexByte(addr, ':')+1:]

	get := func(host string) int {
		t.Helper()
		r, err := http.NewRequest("GET", srv.URL+"/api/v1/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Host = host
		res, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for host, want := range map[string]int{
		addr:                           http.StatusOK,
		"127.0.0.1":                    http.StatusOK,
		"meridian.example.net:" + port: http.StatusOK,
		"meridian.example.net:9153":    http.StatusMisdirectedRequest,
		"127.0.0.2:" + port:            http.StatusMisdirectedRequest,
		"localhost:" + port:            http.StatusMisdirectedRequest,
		"rebound.evil.example:" + port: http.StatusMisdirectedRequest,
		"127.0.0.1:" + port + "0":      http.StatusMisdirectedRequest,
		"[::ffff:127.0.0.1]:" + port:   http.StatusOK,
	} {
		if got := get(host); got != want {
			t.Errorf("Host %q: status %d, want %d", host, got, want)
		}
	}

	// A curl-like JSON POST, and one from the server's own page, drain.
	for i, h := range []map[string]string{{}, {"Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}} {
		body := drainUSEast
		if i == 1 {
			body = `{"zone":"example.com.","region":"eu-west"}`
		}
		r, err := http.NewRequest("POST", srv.URL+"/api/v1/drain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		for k, v := range h {
			r.Header.Set(k, v)
		}
		res, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("POST with %v: status %d, want 200", h, res.StatusCode)
		}
	}
	o := f.deps.Health.Overrides()
	us, _ := o.Region("example.com.", "us-east")
	eu, _ := o.Region("example.com.", "eu-west")
	if us != "drain" || eu != "drain" {
		t.Errorf("after the drains: us-east %q eu-west %q, want both drain", us, eu)
	}
}

// logBuffer is a slog JSON handler's output, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns the logged records whose message is msg.
func (l *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func withLog(l *logBuffer) fixtureOption {
	return func(_ *Config, d *Deps) { d.Logger = slog.New(slog.NewJSONHandler(l, nil)) }
}

// TestStateChangesLogged: every drain, undrain and reload is logged once at
// INFO with the client, whether a token was used, and what changed.
func TestStateChangesLogged(t *testing.T) {
	check := func(t *testing.T, rec map[string]any, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if got := rec[k]; got != v {
				t.Errorf("log %s = %v, want %q; record %v", k, got, v, rec)
			}
		}
	}
	var logs logBuffer
	f := newFixture(t, withLog(&logs))
	r := f.request("POST", "/api/v1/drain", drainUSEast)
	r.RemoteAddr = "127.0.0.9:40001"
	expect(t, f.serve(r), http.StatusOK, nil)
	r = f.request("POST", "/api/v1/undrain", drainUSEast)
	r.RemoteAddr = "127.0.0.9:40002"
	expect(t, f.serve(r), http.StatusOK, nil)
	// Refused and failed requests change nothing and log no change.
	r = f.request("POST", "/api/v1/drain", drainUSEast)
	r.Header.Set("Content-Type", "text/plain")
	expectError(t, f.serve(r), http.StatusUnsupportedMediaType)
	expectError(t, f.do("POST", "/api/v1/drain", `{"zone":"example.com.","region":"mars"}`), http.StatusNotFound)

	recs := logs.records(t, "admin state changed")
	if len(recs) != 2 {
		t.Fatalf("%d state changes logged, want 2: %v", len(recs), recs)
	}
	check(t, recs[0], map[string]string{"level": "INFO", "client": "127.0.0.9:40001", "auth": "none", "action": "drain",
		"zone": "example.com.", "region": "us-east", "from": "none", "to": "drain"})
	check(t, recs[1], map[string]string{"level": "INFO", "client": "127.0.0.9:40002", "auth": "none", "action": "undrain",
		"zone": "example.com.", "region": "us-east", "from": "drain", "to": "none"})

	var tokenLogs logBuffer
	f = newFixture(t, withToken(testToken), withLog(&tokenLogs))
	expect(t, f.do("POST", "/api/v1/drain", `{"service":"www.example.com.","endpoint":"192.0.2.10"}`), http.StatusOK, nil)
	expect(t, f.do("POST", "/api/v1/reload", ""), http.StatusOK, nil)
	recs = tokenLogs.records(t, "admin state changed")
	if len(recs) != 2 {
		t.Fatalf("%d state changes logged, want 2: %v", len(recs), recs)
	}
	check(t, recs[0], map[string]string{"level": "INFO", "client": allowedClient, "auth": "token", "action": "drain",
		"service": "www.example.com.", "endpoint": "192.0.2.10", "from": "none", "to": "drain"})
	check(t, recs[1], map[string]string{"level": "INFO", "client": allowedClient, "auth": "token", "action": "reload", "result": "reloaded"})
	if strings.Contains(tokenLogs.buf.String(), testToken) {
		t.Error("the token itself was logged")
	}
}

// TestRefusalsLogged: a request the Host or cross-origin checks refuse is
// logged as a warning naming the client and the reason.
func TestRefusalsLogged(t *testing.T) {
	var logs logBuffer
	f := newFixture(t, withLog(&logs))
	r := f.request("POST", "/api/v1/drain", drainUSEast)
	r.Header.Set("Origin", "http://evil.example")
	expectError(t, f.serve(r), http.StatusForbidden)
	r = f.request("GET", "/api/v1/status", "")
	r.Host = "evil.example:9153"
	expectError(t, f.serve(r), http.StatusMisdirectedRequest)
	recs := logs.records(t, "admin request refused")
	if len(recs) != 2 {
		t.Fatalf("%d refusals logged, want 2: %v", len(recs), recs)
	}
	for i, want := range []string{"Origin http://evil.example", "host not allowed"} {
		if recs[i]["level"] != "WARN" || recs[i]["client"] != allowedClient || !strings.Contains(recs[i]["reason"].(string), want) {
			t.Errorf("refusal %d: %v, want a WARN from %s with reason %q", i, recs[i], allowedClient, want)
		}
	}
}
