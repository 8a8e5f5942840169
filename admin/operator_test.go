package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/healthcheck"
)

const weightBody = `{"service":"www.example.com.","endpoint":"192.0.2.10","weight":7}`

// TestWeight sets and clears a runtime weight: it is saved to admin_state,
// in force at once, and recorded with who, when and what.
func TestWeight(t *testing.T) {
	f := newFixture(t, withToken(testToken))
	var res map[string]string
	expect(t, f.do("POST", "/api/v1/weight", weightBody), http.StatusOK, &res)
	if res["result"] != "weighted" || res["target"] != "weight www.example.com./192.0.2.10" || res["old"] != "none" || res["new"] != "7" {
		t.Errorf("weight result %v", res)
	}
	if w, ok := f.deps.Health.Overrides().Weight("www.example.com.", "192.0.2.10"); !ok || w != 7 {
		t.Errorf("weight in force %d %v, want 7", w, ok)
	}
	if got := endpointWeights(t, f, "192.0.2.10"); got != "7 from 1" {
		t.Errorf("status shows weight %s, want 7 from 1", got)
	}
	saved, err := healthcheck.LoadOverrides(f.deps.AdminState)
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := saved.Weight("www.example.com.", "192.0.2.10"); !ok || w != 7 {
		t.Errorf("admin_state holds weight %d %v, want 7", w, ok)
	}
	expect(t, f.do("POST", "/api/v1/weight", `{"service":"www.example.com","endpoint":"192.0.2.10","weight":null}`), http.StatusOK, &res)
	if res["old"] != "7" || res["new"] != "none" {
		t.Errorf("clearing result %v", res)
	}
	if _, ok := f.deps.Health.Overrides().Weight("www.example.com.", "192.0.2.10"); ok {
		t.Error("the weight is still in force")
	}
	if got := endpointWeights(t, f, "192.0.2.10"); got != "1" {
		t.Errorf("status shows weight %s after clearing, want 1", got)
	}
	expect(t, f.do("POST", "/api/v1/drain", drainUSEast), http.StatusOK, nil)

	var list struct{ Changes []healthcheck.Change }
	expect(t, f.do("GET", "/api/v1/changes", ""), http.StatusOK, &list)
	var got []string
	for _, c := range list.Changes {
		if c.Time.IsZero() || c.Client != allowedClient || c.Auth != "token" {
			t.Errorf("change without who or when: %+v", c)
		}
		got = append(got, c.Action+" "+c.Target+" "+c.Old+"->"+c.New)
	}
	want := []string{
		"drain region example.com./us-east none->drain",
		"weight weight www.example.com./192.0.2.10 7->none",
		"weight weight www.example.com./192.0.2.10 none->7",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	expect(t, f.do("GET", "/api/v1/changes?limit=1", ""), http.StatusOK, &list)
	if len(list.Changes) != 1 {
		t.Errorf("limit=1 listed %d changes", len(list.Changes))
	}
	for _, bad := range []string{"0", "-1", "x", "1001"} {
		expectError(t, f.do("GET", "/api/v1/changes?limit="+bad, ""), http.StatusBadRequest)
	}
}

func TestWeightErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"unknown endpoint", `{"service":"www.example.com.","endpoint":"192.0.2.99","weight":1}`, http.StatusNotFound},
		{"unknown service", `{"service":"nope.example.com.","endpoint":"192.0.2.10","weight":1}`, http.StatusNotFound},
		{"negative", `{"service":"www.example.com.","endpoint":"192.0.2.10","weight":-1}`, http.StatusBadRequest},
		{"too heavy", `{"service":"www.example.com.","endpoint":"192.0.2.10","weight":1000001}`, http.StatusBadRequest},
		{"fraction", `{"service":"www.example.com.","endpoint":"192.0.2.10","weight":1.5}`, http.StatusBadRequest},
		{"string", `{"service":"www.example.com.","endpoint":"192.0.2.10","weight":"5"}`, http.StatusBadRequest},
		{"unknown field", `{"service":"www.example.com.","endpoint":"192.0.2.10","weight":1,"state":"up"}`, http.StatusBadRequest},
		{"no endpoint", `{"service":"www.example.com.","weight":1}`, http.StatusBadRequest},
		{"trailing", weightBody + `{}`, http.StatusBadRequest},
		{"empty", ``, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, f.do("POST", "/api/v1/weight", tc.body), tc.code)
		})
	}
	if o := f.deps.Health.Overrides(); len(o.Weights()) != 0 {
		t.Errorf("failed requests set weights: %v", o.Weights())
	}
	if _, err := os.Stat(f.deps.AdminState); !os.IsNotExist(err) {
		t.Errorf("failed requests wrote admin_state (stat: %v)", err)
	}
	g := newFixture(t, withoutAdminState())
	expectError(t, g.do("POST", "/api/v1/weight", weightBody), http.StatusConflict)
}

// TestWeightGuarded holds POST /api/v1/weight and GET /api/v1/changes to
// the rules every state-changing request and the API follow: JSON only,
// no cross-site requests, an allowed Host, the token.
func TestWeightGuarded(t *testing.T) {
	f := newFixture(t, withToken(testToken))
	for _, tc := range []struct {
		name   string
		modify func(*http.Request)
		code   int
	}{
		{"form", func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, http.StatusUnsupportedMediaType},
		{"text/plain", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, http.StatusUnsupportedMediaType},
		{"cross-site", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusForbidden},
		{"foreign origin", func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }, http.StatusForbidden},
		{"rebound host", func(r *http.Request) { r.Host = "evil.example:9153" }, http.StatusMisdirectedRequest},
		{"no token", func(r *http.Request) { r.Header.Del("Authorization") }, http.StatusUnauthorized},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		{"GET", func(r *http.Request) { r.Method = "GET" }, http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.request("POST", "/api/v1/weight", weightBody)
			tc.modify(r)
			expectError(t, f.serve(r), tc.code)
		})
	}
	if o := f.deps.Health.Overrides(); len(o.Weights()) != 0 {
		t.Errorf("refused requests set weights: %v", o.Weights())
	}
	r := f.request("GET", "/api/v1/changes", "")
	r.Header.Del("Authorization")
	expectError(t, f.serve(r), http.StatusUnauthorized)
	r = f.request("GET", "/api/v1/changes", "")
	r.Host = "evil.example"
	expectError(t, f.serve(r), http.StatusMisdirectedRequest)
	expectError(t, f.do("POST", "/api/v1/changes", `{}`), http.StatusMethodNotAllowed)
}

// fakeOperator is an OperatorState that fails or records what it is given.
type fakeOperator struct {
	err   error
	edits []healthcheck.Edit
}

func (o *fakeOperator) Apply(_ context.Context, e healthcheck.Edit, c healthcheck.Change) (healthcheck.Change, error) {
	if o.err != nil {
		return c, o.err
	}
	o.edits = append(o.edits, e)
	c.Old, c.New = "none", e.Value()
	return c, nil
}

func (o *fakeOperator) Changes(context.Context, int) ([]healthcheck.Change, error) {
	return nil, o.err
}

// TestOperatorDeps: with an OperatorState (a fleet's), drains and weights
// go to it and not to the admin_state file, even when none is configured;
// when it fails, the API says so and nothing changes here.
func TestOperatorDeps(t *testing.T) {
	op := &fakeOperator{}
	f := newFixture(t, withoutAdminState(), func(_ *Config, d *Deps) { d.Operator = op })
	expect(t, f.do("POST", "/api/v1/drain", drainUSEast), http.StatusOK, nil)
	expect(t, f.do("POST", "/api/v1/weight", weightBody), http.StatusOK, nil)
	if len(op.edits) != 2 || op.edits[0].Kind != healthcheck.EditRegion || op.edits[1].Weight != 7 {
		t.Errorf("edits given to the operator state: %+v", op.edits)
	}
	var list struct{ Changes []healthcheck.Change }
	expect(t, f.do("GET", "/api/v1/changes", ""), http.StatusOK, &list)
	if list.Changes == nil || len(list.Changes) != 0 {
		t.Errorf("changes %v, want an empty list", list.Changes)
	}
	op.err = errors.New("etcd unreachable")
	msg := expectError(t, f.do("POST", "/api/v1/weight", weightBody), http.StatusServiceUnavailable)
	if !strings.Contains(msg, "etcd unreachable") {
		t.Errorf("message %q does not say why", msg)
	}
	expectError(t, f.do("GET", "/api/v1/changes", ""), http.StatusServiceUnavailable)
	if f.deps.Health.Overrides() != nil {
		t.Error("the health view's overrides were set directly")
	}
}

// endpointWeights reads the www endpoint at addr's weight from the status
// API: "W", or "W from Z" when an operator replaced the zone's weight Z.
func endpointWeights(t *testing.T, f *fixture, addr string) string {
	t.Helper()
	var st struct {
		Zones []struct {
			Services []struct {
				Name      string `json:"name"`
				Endpoints []struct {
					Address    string `json:"address"`
					Weight     int    `json:"weight"`
					ZoneWeight *int   `json:"zone_weight"`
				} `json:"endpoints"`
			} `json:"services"`
		} `json:"zones"`
	}
	expect(t, f.do("GET", "/api/v1/status", ""), http.StatusOK, &st)
	for _, z := range st.Zones {
		for _, s := range z.Services {
			for _, ep := range s.Endpoints {
				if s.Name == "www.example.com." && ep.Address == addr {
					if ep.ZoneWeight != nil {
						return fmt.Sprintf("%d from %d", ep.Weight, *ep.ZoneWeight)
					}
					return fmt.Sprint(ep.Weight)
				}
			}
		}
	}
	t.Fatalf("no endpoint %s in the status", addr)
	return ""
}

// TestNamedTokens: each of http.tokens is accepted besides http.token, a
// change records the name of the token it was made with, and a token
// that is none of them is refused.
func TestNamedTokens(t *testing.T) {
	f := newFixture(t, withToken(testToken), func(c *Config, _ *Deps) {
		c.Tokens = map[string]string{"alice": "alice-" + testToken, "deploy-bot": "bot-" + testToken}
	})
	for _, tc := range []struct{ token, name string }{{"alice-" + testToken, "alice"}, {"bot-" + testToken, "deploy-bot"}, {testToken, "token"}} {
		f.token = tc.token
		expect(t, f.do("POST", "/api/v1/weight", weightBody), http.StatusOK, nil)
		var list struct{ Changes []healthcheck.Change }
		expect(t, f.do("GET", "/api/v1/changes?limit=1", ""), http.StatusOK, &list)
		if len(list.Changes) != 1 || list.Changes[0].Auth != tc.name {
			t.Errorf("a change made with %s's token is recorded as %+v", tc.name, list.Changes)
		}
	}
	for _, bad := range []string{"alice", "alice-" + testToken + "x", "", testToken[:len(testToken)-1]} {
		f.token = bad
		expectError(t, f.do("POST", "/api/v1/weight", weightBody), http.StatusUnauthorized)
	}
	// Named tokens alone also close the API.
	g := newFixture(t, func(c *Config, _ *Deps) { c.Tokens = map[string]string{"alice": "alice-" + testToken} })
	expectError(t, g.do("POST", "/api/v1/weight", weightBody), http.StatusUnauthorized)
	g.token = "alice-" + testToken
	expect(t, g.do("POST", "/api/v1/weight", weightBody), http.StatusOK, nil)
}
