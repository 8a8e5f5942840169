package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeAdmin is an admin API on loopback that records the requests it gets
// and answers like Meridian's.
type fakeAdmin struct {
	*httptest.Server
	mu   sync.Mutex
	got  []string
	fail bool
}

func newFakeAdmin(t *testing.T) *fakeAdmin {
	f := &fakeAdmin{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Authorization")+" "+string(body))
		fail := f.fail
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if fail {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "no endpoint 192.0.2.99 in service www.example.com."})
			return
		}
		switch r.URL.Path {
		case "/api/v1/weight":
			json.NewEncoder(w).Encode(map[string]string{"result": "weighted", "target": "weight www.example.com./192.0.2.10", "old": "none", "new": "5"})
		default:
			json.NewEncoder(w).Encode(map[string]string{"result": "drained", "target": "endpoint www.example.com./192.0.2.10"})
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAdmin) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

// TestOperatorCommands runs drain, undrain and weight against an admin
// API: the requests are JSON with the token, and the API's answers and
// errors reach the operator.
func TestOperatorCommands(t *testing.T) {
	f := newFakeAdmin(t)
	t.Setenv("MERIDIAN_TOKEN", "env-token")
	for _, tc := range []struct {
		args []string
		out  string
		req  string
	}{
		{[]string{"drain", "--admin", f.URL, "--service", "www.example.com", "--endpoint", "192.0.2.10"},
			"drained: endpoint www.example.com./192.0.2.10",
			`POST /api/v1/drain application/json Bearer env-token {"endpoint":"192.0.2.10","service":"www.example.com"}`},
		{[]string{"undrain", "--admin", f.URL, "--token", "flag-token", "--zone", "example.com", "--region", "eu-west"},
			"drained: endpoint",
			`POST /api/v1/undrain application/json Bearer flag-token {"region":"eu-west","zone":"example.com"}`},
		{[]string{"weight", "--admin", f.URL, "--service", "www.example.com", "--endpoint", "192.0.2.10", "5"},
			"weight www.example.com./192.0.2.10: none -> 5",
			`POST /api/v1/weight application/json Bearer env-token {"endpoint":"192.0.2.10","service":"www.example.com","weight":5}`},
		{[]string{"weight", "--admin", f.URL, "--service", "www.example.com", "--endpoint", "192.0.2.10", "--clear"},
			"weight www.example.com./192.0.2.10",
			`POST /api/v1/weight application/json Bearer env-token {"endpoint":"192.0.2.10","service":"www.example.com","weight":null}`},
	} {
		before := len(f.requests())
		out, _, err := runMeridian(t, tc.args...)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if !strings.Contains(out, tc.out) {
			t.Errorf("%v printed %q, want %q", tc.args, out, tc.out)
		}
		if got := f.requests(); len(got) != before+1 || got[before] != tc.req {
			t.Errorf("%v sent %q, want %q", tc.args, got[before:], tc.req)
		}
	}

	for _, args := range [][]string{
		{"drain", "--admin", f.URL},
		{"drain", "--admin", f.URL, "--service", "www.example.com"},
		{"drain", "--admin", f.URL, "--service", "www.example.com", "--endpoint", "192.0.2.10", "--zone", "example.com", "--region", "eu"},
		{"weight", "--admin", f.URL, "--service", "www.example.com", "--endpoint", "192.0.2.10"},
		{"weight", "--admin", f.URL, "--service", "www.example.com", "--endpoint", "192.0.2.10", "--clear", "5"},
		{"weight", "--admin", f.URL, "--service", "www.example.com", "--endpoint", "192.0.2.10", "heavy"},
	} {
		before := len(f.requests())
		if _, _, err := runMeridian(t, args...); err == nil {
			t.Errorf("%v succeeded", args)
		}
		if len(f.requests()) != before {
			t.Errorf("%v reached the API", args)
		}
	}

	f.mu.Lock()
	f.fail = true
	f.mu.Unlock()
	_, _, err := runMeridian(t, "weight", "--admin", f.URL, "--service", "www.example.com", "--endpoint", "192.0.2.99", "5")
	if err == nil || !strings.Contains(err.Error(), "no endpoint 192.0.2.99") || !strings.Contains(err.Error(), "404") {
		t.Errorf("error %v, want the API's message and status", err)
	}
}

// TestOperatorCommandsFromConfig takes the admin API's address and token
// from the configuration's http section.
func TestOperatorCommandsFromConfig(t *testing.T) {
	f := newFakeAdmin(t)
	t.Setenv("MERIDIAN_TOKEN", "")
	dir := t.TempDir()
	zones := filepath.Join(dir, "zones")
	if err := os.Mkdir(zones, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "meridian.yaml")
	listen := strings.TrimPrefix(f.URL, "http://")
	body := "zones: " + zones + "\nhttp: {listen: \"" + listen + "\", token: cfg-token}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runMeridian(t, "drain", "--config", cfg, "--zone", "example.com", "--region", "eu"); err != nil {
		t.Fatal(err)
	}
	if got := f.requests(); len(got) != 1 || !strings.Contains(got[0], "Bearer cfg-token") {
		t.Errorf("requests %q, want one with the configuration's token", got)
	}
	if got := adminURL("0.0.0.0:9153"); got != "http://127.0.0.1:9153" {
		t.Errorf("wildcard listen reached at %s", got)
	}
	if got := adminURL("[::]:9153"); got != "http://[::1]:9153" {
		t.Errorf("IPv6 wildcard listen reached at %s", got)
	}
}
