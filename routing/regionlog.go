package routing

import (
	"context"
	"log/slog"
	"sync"

	"github.com/meridian-dns/meridian/zones"
)

// RegionLog logs, once per change, when a region becomes unavailable or
// available again for a service, and when a service has no available
// region left: the health checker logs endpoints one by one, but what
// moves clients is the state of regions. A region's state is what routing
// uses (RegionState): enough endpoints up, after min_healthy and the
// operator's overrides.
type RegionLog struct {
	router *Router
	logger *slog.Logger
	kick   chan struct{}

	mu sync.Mutex
	// up is the last state logged of each region of each service, and
	// anyUp whether each service had a region up.
	up    map[regionKey]bool
	anyUp map[string]bool
}

type regionKey struct{ service, region string }

// NewRegionLog returns a RegionLog of the regions r sees.
func NewRegionLog(r *Router, logger *slog.Logger) *RegionLog {
	return &RegionLog{router: r, logger: logger, kick: make(chan struct{}, 1)}
}

// Update compares the region states of every service of snap with those
// of the last Update and logs the changes. The first Update only records
// the states. A service or region that snap adds is recorded silently;
// one it drops is forgotten.
func (l *RegionLog) Update(snap *zones.Snapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.up == nil
	up := make(map[regionKey]bool, len(l.up))
	anyUp := make(map[string]bool, len(l.anyUp))
	for _, z := range snap.Zones() {
		for _, svc := range z.Services() {
			some := false
			for _, reg := range z.Regions() {
				if svc.AllPools().Region(reg) == nil {
					continue
				}
				c := l.router.RegionState(svc, reg)
				k := regionKey{svc.Name, reg.Name}
				up[k] = c.Up
				some = some || c.Up
				if was, seen := l.up[k]; !first && seen && was != c.Up {
					l.logRegion(svc, reg, c)
				}
			}
			anyUp[svc.Name] = some
			if was, seen := l.anyUp[svc.Name]; !first && seen && was != some {
				if some {
					l.logger.Info("service has an available region again", "service", svc.Name)
				} else {
					l.logger.Error("no region is available for service; answering as all_down says", "service", svc.Name, "all_down", svc.AllDown.String())
				}
			}
		}
	}
	l.up, l.anyUp = up, anyUp
}

func (l *RegionLog) logRegion(svc *zones.Service, reg *zones.Region, c Candidate) {
	attrs := []any{"service", svc.Name, "region", reg.Name, "healthy", c.Healthy, "endpoints", c.Total,
		"min_healthy", l.router.health.MinHealthy(svc, c.Total)}
	if c.Up {
		l.logger.Info("region available for service", attrs...)
	} else {
		l.logger.Warn("region unavailable for service; its clients go to the next region", attrs...)
	}
}

// Kick asks Run for an Update soon; it never blocks, and does nothing on
// a nil RegionLog. Call it after anything that can change a region's
// state: published health, new overrides, a new snapshot.
func (l *RegionLog) Kick() {
	if l == nil {
		return
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Run updates from current() after every Kick, until ctx ends. Kicks that
// arrive during an Update are served by one more, so that a burst of
// health changes costs a few passes over the services rather than one
// each.
func (l *RegionLog) Run(ctx context.Context, current func() *zones.Snapshot) {
	l.Update(current())
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
			l.Update(current())
		}
	}
}
