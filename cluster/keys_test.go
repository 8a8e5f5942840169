package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/healthcheck"
)

func TestObservationRoundTrip(t *testing.T) {
	since := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	for _, o := range []Observation{
		{State: healthcheck.StateUp, Since: since},
		{State: healthcheck.StateDown, Since: since, Error: "dial tcp 192.0.2.1:80: connect: connection refused"},
	} {
		got, err := ParseObservation(o.Marshal())
		if err != nil || got.State != o.State || !got.Since.Equal(o.Since) || got.Error != o.Error {
			t.Errorf("ParseObservation(Marshal(%+v)) = %+v, %v", o, got, err)
		}
	}
}

// TestParseObservationRejects holds values read from etcd to their form:
// anything else is refused, never half read.
func TestParseObservationRejects(t *testing.T) {
	ok := `{"state":"down","since":"2026-12-06T03:00:00Z"}`
	if _, err := ParseObservation([]byte(ok)); err != nil {
		t.Fatalf("the valid value is refused: %v", err)
	}
	for name, v := range map[string]string{
		"empty":           ``,
		"not JSON":        `down`,
		"a list":          `["down"]`,
		"unknown state":   `{"state":"unknown","since":"2026-12-06T03:00:00Z"}`,
		"no state":        `{"since":"2026-12-06T03:00:00Z"}`,
		"no since":        `{"state":"up"}`,
		"bad since":       `{"state":"up","since":"yesterday"}`,
		"unknown field":   `{"state":"up","since":"2026-12-06T03:00:00Z","weight":5}`,
		"trailing data":   ok + `{}`,
		"trailing brace":  ok + `}`,
		"control in err":  `{"state":"down","since":"2026-12-06T03:00:00Z","error":"a\u001b[31mred"}`,
		"long error":      `{"state":"down","since":"2026-12-06T03:00:00Z","error":"` + strings.Repeat("x", healthcheck.MaxDetailBytes+1) + `"}`,
		"oversized":       `{"state":"down","since":"2026-12-06T03:00:00Z","error":"x"}` + strings.Repeat(" ", MaxValueBytes),
		"state is number": `{"state":2,"since":"2026-12-06T03:00:00Z"}`,
	} {
		if o, err := ParseObservation([]byte(v)); err == nil {
			t.Errorf("%s: ParseObservation(%.60q) = %+v, want an error", name, v, o)
		}
	}
}

func TestParseInstance(t *testing.T) {
	i := Instance{Version: "1.4.0", Started: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)}
	if got, err := ParseInstance(i.Marshal()); err != nil || got.Version != i.Version || !got.Started.Equal(i.Started) {
		t.Errorf("ParseInstance(Marshal) = %+v, %v", got, err)
	}
	for _, v := range []string{``, `{"version":"1","role":"leader"}`, `{"version":"` + strings.Repeat("1", 65) + `"}`, `[]`} {
		if _, err := ParseInstance([]byte(v)); err == nil {
			t.Errorf("ParseInstance(%.40q) accepted", v)
		}
	}
}

func TestParseKey(t *testing.T) {
	id := strings.Repeat("0a", 16)
	for _, c := range []struct {
		rel          string
		kind         keyKind
		target, inst string
		wantErr      bool
	}{
		{"instances/ns1-fra", keyInstance, "", "ns1-fra", false},
		{"health/ns1-fra/" + id, keyObservation, id, "ns1-fra", false},
		{"admin/drains/example.com/www/fra1", keyOther, "", "", false},
		{"zones/current", keyOther, "", "", false},
		{"instances/", keyOther, "", "", true},
		{"instances/a/b", keyOther, "", "", true},
		{"health/a", keyOther, "", "", true},
		{"health/" + id, keyOther, "", "", true},
		{"health/a/" + strings.ToUpper(id), keyOther, "", "", true},
		{"health/a/abc", keyOther, "", "", true},
		{"health/a/b/" + id, keyOther, "", "", true},
		{"health/" + strings.Repeat("a", 64) + "/" + id, keyOther, "", "", true},
	} {
		kind, target, inst, err := parseKey(c.rel)
		if kind != c.kind || target != c.target || inst != c.inst || (err != nil) != c.wantErr {
			t.Errorf("parseKey(%q) = %v, %q, %q, %v", c.rel, kind, target, inst, err)
		}
	}
}
