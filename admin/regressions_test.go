package admin

import (
	"net/http"
	"testing"
)

// TestDrainedRegionIsDownInStatus: a drained region gets no answers, so the
// status page must not show it up.
func TestDrainedRegionIsDownInStatus(t *testing.T) {
	f := newFixture(t)
	expect(t, f.do("POST", "/api/v1/drain", `{"zone":"example.com.","region":"us-east"}`), http.StatusOK, nil)
	for _, z := range f.status().Zones {
		for _, s := range z.Services {
			for _, r := range s.Regions {
				if r.Name == "us-east" && r.Up {
					t.Errorf("service %s: drained region us-east reported up (%d/%d healthy)", s.Name, r.Healthy, r.Total)
				}
			}
		}
	}
}

func TestDrainRejectsTrailingData(t *testing.T) {
	f := newFixture(t)
	expectError(t, f.do("POST", "/api/v1/drain", `{"zone":"example.com.","region":"us-east"} junk`), http.StatusBadRequest)
	if o := f.deps.Health.Overrides(); o != nil && len(o.Regions()) != 0 {
		t.Errorf("a rejected request changed the overrides: %v", o.Regions())
	}
}

func TestWrongMethodAndUnknownPaths(t *testing.T) {
	f := newFixture(t, withToken(testToken))
	w := f.do("GET", "/api/v1/drain", "")
	expectError(t, w, http.StatusMethodNotAllowed)
	if w.Header().Get("Allow") != "POST" {
		t.Errorf("Allow %q", w.Header().Get("Allow"))
	}
	// The catch-all is behind the token like the rest of the API.
	r := f.request("GET", "/api/v1/drain", "")
	r.Header.Del("Authorization")
	expectError(t, f.serve(r), http.StatusUnauthorized)
	expectError(t, f.do("GET", "/nothing-here", ""), http.StatusNotFound)
}
