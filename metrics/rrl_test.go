package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/metrics"
)

// TestRRLTable: the size, capacity and evictions of response rate
// limiting's table are exported at scrape time, and nothing is exported
// while rate limiting is off.
func TestRRLTable(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	names := []string{"meridian_rrl_table_entries", "meridian_rrl_table_capacity", "meridian_rrl_evictions_total"}
	m.SetStateSource(func() metrics.State { return metrics.State{} })
	compare(t, reg, "", names...)
	m.SetStateSource(func() metrics.State {
		return metrics.State{RRL: &metrics.RRLSample{Entries: 1200, Capacity: 250000, Evicted: 7}}
	})
	compare(t, reg, `
# HELP meridian_rrl_table_entries Budgets (client network, category, response) in response rate limiting's table.
# TYPE meridian_rrl_table_entries gauge
meridian_rrl_table_entries 1200
# HELP meridian_rrl_table_capacity Most budgets response rate limiting's table holds (rrl.max_entries).
# TYPE meridian_rrl_table_capacity gauge
meridian_rrl_table_capacity 250000
# HELP meridian_rrl_evictions_total Budgets still limiting their network that a full table forgot to make room for new ones.
# TYPE meridian_rrl_evictions_total counter
meridian_rrl_evictions_total 7
`, names...)
}
