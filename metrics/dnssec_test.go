package metrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/metrics"
)

// TestDNSSECState: the signer's counters and each signed zone's expiry are
// exported at scrape time, and nothing while no zone is signed.
func TestDNSSECState(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	names := []string{"meridian_dnssec_signatures_total", "meridian_dnssec_signature_cache_lookups_total",
		"meridian_dnssec_signature_cache_entries", "meridian_dnssec_expiry_timestamp_seconds"}
	m.SetStateSource(func() metrics.State { return metrics.State{} })
	compare(t, reg, "", names...)
	m.SetStateSource(func() metrics.State {
		return metrics.State{DNSSEC: &metrics.DNSSECSample{Signatures: 42, Hits: 1000, Misses: 7, Entries: 7,
			Expiry: map[string]time.Time{"signed.test.": time.Unix(1800000000, 0)}}}
	})
	compare(t, reg, `
# HELP meridian_dnssec_signatures_total RRSIGs made: static RRsets when zones load, service answers and denial records as they are first asked for.
# TYPE meridian_dnssec_signatures_total counter
meridian_dnssec_signatures_total 42
# HELP meridian_dnssec_signature_cache_lookups_total Lookups of the signature cache of answers signed per query, by result (hit, miss).
# TYPE meridian_dnssec_signature_cache_lookups_total counter
meridian_dnssec_signature_cache_lookups_total{result="hit"} 1000
meridian_dnssec_signature_cache_lookups_total{result="miss"} 7
# HELP meridian_dnssec_signature_cache_entries Signatures the signature cache holds.
# TYPE meridian_dnssec_signature_cache_entries gauge
meridian_dnssec_signature_cache_entries 7
# HELP meridian_dnssec_expiry_timestamp_seconds When the zone's answers stop validating unless it is signed again: the earliest expiration of its signatures or of its last signing key.
# TYPE meridian_dnssec_expiry_timestamp_seconds gauge
meridian_dnssec_expiry_timestamp_seconds{zone="signed.test."} 1.8e+09
`, names...)
}
