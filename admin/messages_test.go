package admin

import (
	"net/http"
	"strings"
	"testing"
)

// TestDrainErrorsWithoutGoTypes holds the drain API's errors about a body
// of the wrong shape to naming the field and what it should be, not the
// Go types it was decoded into.
func TestDrainErrorsWithoutGoTypes(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ body, want string }{
		{`{"service": 5, "endpoint": "192.0.2.10"}`, `"service" must be a string, not a number`},
		{`{"zone": "example.com.", "region": ["us-east"]}`, `"region" must be a string, not an array`},
		{`["www.example.com.", "192.0.2.10"]`, `the body is a JSON array, not an object`},
	} {
		msg := expectError(t, f.do("POST", "/api/v1/drain", tc.body), http.StatusBadRequest)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q, want it to contain %q", tc.body, msg, tc.want)
		}
		for _, goish := range []string{"Go struct", "Go value", "drainRequest", "of type"} {
			if strings.Contains(msg, goish) {
				t.Errorf("%s: error %q shows %q", tc.body, msg, goish)
			}
		}
	}
}
