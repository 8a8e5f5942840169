package app

import (
	"context"
	"time"

	"github.com/meridian-dns/meridian/admin"
	"github.com/meridian-dns/meridian/cluster"
)

// newFollower builds what follows the fleet's published zones (with
// cluster.zones_from: cluster) and publishes this instance's status to
// the fleet; it needs the member (a.Cluster) for the etcd connection's
// state and the disagreements.
func (a *App) newFollower() (*cluster.Follower, error) {
	cfg := a.Config
	conn, err := cluster.ConnectionFrom(cfg.Cluster.Etcd)
	if err != nil {
		return nil, err
	}
	return cluster.NewFollower(cluster.FollowerOptions{
		Connection: conn,
		Instance:   cfg.Cluster.Instance,
		LeaseTTL:   cluster.LeaseTTL(slowestInterval(a.Zones.Current())),
		Follow:     cfg.Cluster.ZonesFrom == "cluster",
		FileBytes:  ZoneLimits(cfg).FileBytes,
		Apply:      a.applyPublished,
		Status:     a.fleetStatus,
		Logger:     a.Logger,
	})
}

// applyPublished serves the zones of a published revision, materialised
// in dir, through the zone store's build, validate and swap; a revision
// that does not build leaves the zones being served and counts as a
// failed reload.
func (a *App) applyPublished(dir string) error {
	changed, err := a.Zones.ReloadFrom(dir)
	a.countReload(changed, err)
	return err
}

// fleetStatus is the part of this instance's status the app knows: the
// serials served, the consensus's contact with etcd, the disagreements.
func (a *App) fleetStatus() cluster.Status {
	snap := a.Zones.Current()
	st := cluster.Status{Serials: make(map[string]uint32, len(snap.Zones()))}
	for _, z := range snap.Zones() {
		st.Serials[z.Origin] = z.Serial
	}
	c := a.Cluster.State()
	st.Connected, st.Disagreements = c.Connected, c.Disagreements
	return st
}

// fleetReader reads the fleet's instances and revision from etcd, for the
// admin API, within a bound; nil without a cluster.
func (a *App) fleetReader() admin.FleetReader {
	if a.Follower == nil {
		return nil
	}
	return func(ctx context.Context) (cluster.Fleet, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return a.Follower.Fleet(ctx)
	}
}
