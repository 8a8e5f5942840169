package app

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/meridian-dns/meridian/admin"
	"github.com/meridian-dns/meridian/cluster"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
	"github.com/meridian-dns/meridian/zones"
)

// newMember builds this instance's membership of the fleet the cluster
// section names. It reads the TLS and password files; it does not contact
// etcd (Member.Run does).
func newMember(cfg *config.Config, snap *zones.Snapshot, checker *healthcheck.Manager, logger *slog.Logger, version string) (*cluster.Member, error) {
	conn, err := cluster.ConnectionFrom(cfg.Cluster.Etcd)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	rule, err := cluster.ParseRule(cfg.Cluster.Health.DownWhen)
	if err != nil {
		return nil, fmt.Errorf("config: cluster.health.down_when: %w", err)
	}
	return cluster.New(cluster.Options{
		Connection:     conn,
		Instance:       cfg.Cluster.Instance,
		Rule:           rule,
		Observers:      cfg.Cluster.Health.Observers,
		LeaseTTL:       cluster.LeaseTTL(slowestInterval(snap)),
		Version:        version,
		Logger:         logger,
		Own:            checker.Status,
		SetProbeFilter: checker.SetProbeFilter,
	})
}

// slowestInterval is the longest check interval of the snapshot's targets,
// which sets the lease of this instance's observations (at start; a reload
// does not change it).
func slowestInterval(snap *zones.Snapshot) time.Duration {
	var slowest time.Duration
	for _, t := range snap.Targets() {
		slowest = max(slowest, t.Spec.WithDefaults().Interval)
	}
	return slowest
}

// fleet is the membership the admin interface shows: nil, not a nil
// *cluster.Member, without a cluster.
func (a *App) fleet() admin.Fleet {
	if a.Cluster == nil {
		return nil
	}
	return a.Cluster
}

// explainCheck says how the fleet decided a check target, for
// explanations.
func (a *App) explainCheck(k check.Key) string {
	v, ok := a.Cluster.Target(k)
	if !ok {
		return ""
	}
	return v.Text()
}
