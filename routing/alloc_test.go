package routing

import "testing"

// TestDecideAllocs holds the decisions of decideCases to their allocation
// budget: none for every way of choosing a region and for every policy
// answering one endpoint from a pool of up to stackEndpoints, at most the
// answer's own slice for two endpoints that are not a run of the pool.
func TestDecideAllocs(t *testing.T) {
	z := selectionZone(t)
	db := testGeo(t)
	for _, tc := range decideCases() {
		if tc.allocs < 0 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			r := newRouter(t, nil, tc.health)
			s := service(t, z, tc.service)
			loc := locate(t, db, tc.client)
			// The first decision makes the service's round robin counter.
			r.DecideAt(s, tc.qtype, tc.client, loc, false)
			got := testing.AllocsPerRun(200, func() {
				if d := r.DecideAt(s, tc.qtype, tc.client, loc, false); d.Region == nil {
					t.Fatal("no region")
				}
			})
			if got > tc.allocs {
				t.Errorf("%.1f allocations per decision, want at most %.0f", got, tc.allocs)
			}
		})
	}

	// Without a locator Decide itself is as frugal.
	r := New(nil, nil)
	s := service(t, z, "www")
	c := client("203.0.113.0", 24)
	if got := testing.AllocsPerRun(200, func() { r.Decide(s, 1, c, false) }); got != 0 {
		t.Errorf("Decide without a locator: %.1f allocations, want 0", got)
	}
}
