package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// State is the part of Meridian's state that is read at scrape time rather
// than counted by these metrics on the query path: endpoint health, region
// health, zone serials, GeoIP databases and the lookup errors the geo
// package counts in atomics of its own. Reading it when Prometheus asks
// keeps the gauges consistent with the snapshot being served and costs
// queries nothing.
type State struct {
	Endpoints []EndpointSample
	Regions   []RegionSample
	Zones     []ZoneSample
	GeoIP     []GeoIPSample
	// RRL is response rate limiting's table; nil when it is off.
	RRL *RRLSample
	// Cluster is this instance's standing in its fleet; nil without a
	// cluster.
	Cluster *ClusterSample
	// DNSSEC is the signer's work and the signed zones' expiry; nil when
	// no zone is signed.
	DNSSEC *DNSSECSample
}

// DNSSECSample is what signing has done, and when each signed zone's
// answers stop validating unless it is signed again.
type DNSSECSample struct {
	// Signatures counts the RRSIGs made; Hits and Misses the signature
	// cache's lookups; Entries what it holds.
	Signatures, Hits, Misses uint64
	Entries                  int
	// Expiry is, per signed zone, the earliest expiration of its
	// signatures or of its last signing key.
	Expiry map[string]time.Time
}

// ClusterSample is this instance's standing in its fleet on etcd.
type ClusterSample struct {
	// Connected reports contact with etcd within the lease TTL: the
	// fleet's observations count.
	Connected bool
	// Instances are the live members, this one included; Targets the
	// check targets; Observing those this instance probes.
	Instances, Targets, Observing int
	// Disagreements are the targets whose fleet verdict differs from this
	// instance's own view now; DisagreementsTotal counts how often one
	// began to.
	Disagreements      int
	DisagreementsTotal uint64
	// Malformed counts keys and values read from etcd that were ignored;
	// Writes the etcd writes this instance made.
	Malformed, Writes uint64
	// ZoneRevision is the published zone revision served (0: none, or
	// zones from files); ZoneRevisionsRejected counts published revisions
	// this instance refused.
	ZoneRevision, ZoneRevisionsRejected uint64
}

// RRLSample is the size of response rate limiting's table of budgets.
type RRLSample struct {
	Entries, Capacity int
	// Evicted counts budgets still limiting their network that were
	// forgotten to make room.
	Evicted uint64
}

// EndpointSample is one endpoint of one service.
type EndpointSample struct {
	Service, Region, Endpoint string
	Up                        bool
	// Latency is the smoothed probe latency in seconds; 0 when unknown.
	Latency float64
}

// RegionSample is one region of one service.
type RegionSample struct {
	Service, Region string
	Healthy         int
}

// ZoneSample is one zone being served.
type ZoneSample struct {
	Zone   string
	Serial uint32
}

// GeoIPSample is one loaded GeoIP database.
type GeoIPSample struct {
	Database  string
	BuildTime time.Time
	// LookupErrors counts the lookups whose record the database could not
	// read since the start; it survives reloads.
	LookupErrors uint64
}

var (
	endpointUpDesc = prometheus.NewDesc("meridian_health_endpoint_up",
		"1 when the endpoint is up (health check passing and not forced down), else 0.", []string{"service", "region", "endpoint"}, nil)
	probeDurationDesc = prometheus.NewDesc("meridian_health_probe_duration_seconds",
		"Smoothed (EWMA) duration of the endpoint's successful probes.", []string{"service", "region", "endpoint"}, nil)
	regionHealthyDesc = prometheus.NewDesc("meridian_health_region_healthy_endpoints",
		"Healthy endpoints of a service in a region.", []string{"service", "region"}, nil)
	zoneSerialDesc = prometheus.NewDesc("meridian_zone_serial",
		"SOA serial being served, by zone.", []string{"zone"}, nil)
	dnssecSignaturesDesc = prometheus.NewDesc("meridian_dnssec_signatures_total",
		"RRSIGs made: static RRsets when zones load, service answers and denial records as they are first asked for.", nil, nil)
	dnssecCacheDesc = prometheus.NewDesc("meridian_dnssec_signature_cache_lookups_total",
		"Lookups of the signature cache of answers signed per query, by result (hit, miss).", []string{"result"}, nil)
	dnssecCacheEntriesDesc = prometheus.NewDesc("meridian_dnssec_signature_cache_entries",
		"Signatures the signature cache holds.", nil, nil)
	dnssecExpiryDesc = prometheus.NewDesc("meridian_dnssec_expiry_timestamp_seconds",
		"When the zone's answers stop validating unless it is signed again: the earliest expiration of its signatures or of its last signing key.", []string{"zone"}, nil)
	rrlEntriesDesc = prometheus.NewDesc("meridian_rrl_table_entries",
		"Budgets (client network, category, response) in response rate limiting's table.", nil, nil)
	rrlCapacityDesc = prometheus.NewDesc("meridian_rrl_table_capacity",
		"Most budgets response rate limiting's table holds (rrl.max_entries).", nil, nil)
	rrlEvictedDesc = prometheus.NewDesc("meridian_rrl_evictions_total",
		"Budgets still limiting their network that a full table forgot to make room for new ones.", nil, nil)
	clusterConnectedDesc = prometheus.NewDesc("meridian_cluster_connected",
		"1 while the instance is in contact with etcd and decides health with its fleet; 0 while it decides from its own probes alone.", nil, nil)
	clusterInstancesDesc = prometheus.NewDesc("meridian_cluster_instances",
		"Live instances of the fleet, this one included.", nil, nil)
	clusterTargetsDesc = prometheus.NewDesc("meridian_cluster_targets",
		"Health-check targets, by whether this instance probes them (observing) or not (delegated).", []string{"role"}, nil)
	clusterDisagreementsDesc = prometheus.NewDesc("meridian_cluster_health_disagreements",
		"Targets whose fleet verdict differs from this instance's own probes now.", nil, nil)
	clusterDisagreementsTotalDesc = prometheus.NewDesc("meridian_cluster_health_disagreements_total",
		"Times a target's fleet verdict began to differ from this instance's own probes.", nil, nil)
	clusterMalformedDesc = prometheus.NewDesc("meridian_cluster_malformed_values_total",
		"Keys and values read from etcd that were ignored because they did not pass validation.", nil, nil)
	clusterWritesDesc = prometheus.NewDesc("meridian_cluster_etcd_writes_total",
		"Writes this instance made to etcd: puts and deletes of its registration and observations, lease grants and revocations.", nil, nil)
	clusterZoneRevisionDesc = prometheus.NewDesc("meridian_cluster_zone_revision",
		"The published zone revision this instance serves; 0 when its zones come from files or none was applied yet.", nil, nil)
	clusterZoneRejectedDesc = prometheus.NewDesc("meridian_cluster_zone_revisions_rejected_total",
		"Published zone revisions this instance refused (malformed in etcd, or zones that do not build); it kept serving its previous zones.", nil, nil)
	geoipBuildDesc = prometheus.NewDesc("meridian_geoip_build_timestamp_seconds",
		"Build time of each loaded GeoIP database.", []string{"database"}, nil)
	geoipLookupErrorsDesc = prometheus.NewDesc("meridian_geoip_lookup_errors_total",
		"GeoIP lookups whose record the database could not read (treated as unknown), by database.", []string{"database"}, nil)
)

// stateCollector turns State into gauges and counters at scrape time.
type stateCollector struct {
	source atomic.Pointer[func() State]
}

// SetStateSource installs the function read at every scrape.
func (m *Metrics) SetStateSource(f func() State) { m.state.source.Store(&f) }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{endpointUpDesc, probeDurationDesc, regionHealthyDesc, zoneSerialDesc, geoipBuildDesc, geoipLookupErrorsDesc, rrlEntriesDesc, rrlCapacityDesc, rrlEvictedDesc,
		dnssecSignaturesDesc, dnssecCacheDesc, dnssecCacheEntriesDesc, dnssecExpiryDesc,
		clusterConnectedDesc, clusterInstancesDesc, clusterTargetsDesc, clusterDisagreementsDesc, clusterDisagreementsTotalDesc, clusterMalformedDesc, clusterWritesDesc,
		clusterZoneRevisionDesc, clusterZoneRejectedDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.source.Load()
	if f == nil {
		return
	}
	st := (*f)()
	for _, e := range st.Endpoints {
		up := 0.0
		if e.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(endpointUpDesc, prometheus.GaugeValue, up, e.Service, e.Region, e.Endpoint)
		if e.Latency > 0 {
			ch <- prometheus.MustNewConstMetric(probeDurationDesc, prometheus.GaugeValue, e.Latency, e.Service, e.Region, e.Endpoint)
		}
	}
	for _, r := range st.Regions {
		ch <- prometheus.MustNewConstMetric(regionHealthyDesc, prometheus.GaugeValue, float64(r.Healthy), r.Service, r.Region)
	}
	if d := st.DNSSEC; d != nil {
		ch <- prometheus.MustNewConstMetric(dnssecSignaturesDesc, prometheus.CounterValue, float64(d.Signatures))
		ch <- prometheus.MustNewConstMetric(dnssecCacheDesc, prometheus.CounterValue, float64(d.Hits), "hit")
		ch <- prometheus.MustNewConstMetric(dnssecCacheDesc, prometheus.CounterValue, float64(d.Misses), "miss")
		ch <- prometheus.MustNewConstMetric(dnssecCacheEntriesDesc, prometheus.GaugeValue, float64(d.Entries))
		for zone, t := range d.Expiry {
			ch <- prometheus.MustNewConstMetric(dnssecExpiryDesc, prometheus.GaugeValue, float64(t.Unix()), zone)
		}
	}
	if r := st.RRL; r != nil {
		ch <- prometheus.MustNewConstMetric(rrlEntriesDesc, prometheus.GaugeValue, float64(r.Entries))
		ch <- prometheus.MustNewConstMetric(rrlCapacityDesc, prometheus.GaugeValue, float64(r.Capacity))
		ch <- prometheus.MustNewConstMetric(rrlEvictedDesc, prometheus.CounterValue, float64(r.Evicted))
	}
	if c := st.Cluster; c != nil {
		connected := 0.0
		if c.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(clusterConnectedDesc, prometheus.GaugeValue, connected)
		ch <- prometheus.MustNewConstMetric(clusterInstancesDesc, prometheus.GaugeValue, float64(c.Instances))
		ch <- prometheus.MustNewConstMetric(clusterTargetsDesc, prometheus.GaugeValue, float64(c.Observing), "observing")
		ch <- prometheus.MustNewConstMetric(clusterTargetsDesc, prometheus.GaugeValue, float64(max(c.Targets-c.Observing, 0)), "delegated")
		ch <- prometheus.MustNewConstMetric(clusterDisagreementsDesc, prometheus.GaugeValue, float64(c.Disagreements))
		ch <- prometheus.MustNewConstMetric(clusterDisagreementsTotalDesc, prometheus.CounterValue, float64(c.DisagreementsTotal))
		ch <- prometheus.MustNewConstMetric(clusterMalformedDesc, prometheus.CounterValue, float64(c.Malformed))
		ch <- prometheus.MustNewConstMetric(clusterWritesDesc, prometheus.CounterValue, float64(c.Writes))
		ch <- prometheus.MustNewConstMetric(clusterZoneRevisionDesc, prometheus.GaugeValue, float64(c.ZoneRevision))
		ch <- prometheus.MustNewConstMetric(clusterZoneRejectedDesc, prometheus.CounterValue, float64(c.ZoneRevisionsRejected))
	}
	for _, z := range st.Zones {
		ch <- prometheus.MustNewConstMetric(zoneSerialDesc, prometheus.GaugeValue, float64(z.Serial), z.Zone)
	}
	for _, g := range st.GeoIP {
		ch <- prometheus.MustNewConstMetric(geoipBuildDesc, prometheus.GaugeValue, float64(g.BuildTime.Unix()), g.Database)
		ch <- prometheus.MustNewConstMetric(geoipLookupErrorsDesc, prometheus.CounterValue, float64(g.LookupErrors), g.Database)
	}
}
