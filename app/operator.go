package app

import (
	"fmt"

	"github.com/meridian-dns/meridian/admin"
	"github.com/meridian-dns/meridian/cluster"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/healthcheck"
)

// newOperator builds the fleet's operator state in etcd: drains, undrains
// and weights made through any instance's admin API reach this one
// through it.
func (a *App) newOperator(cfg *config.Config) (*cluster.Operator, error) {
	conn, err := cluster.ConnectionFrom(cfg.Cluster.Etcd)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return cluster.NewOperator(cluster.OperatorOptions{
		Connection: conn,
		Instance:   cfg.Cluster.Instance,
		Logger:     a.Logger,
		OnChange:   a.setFleetOverrides,
	})
}

// setFileOverrides takes the admin_state file's overrides (this instance's
// own) and puts them in force with the fleet's.
func (a *App) setFileOverrides(o *healthcheck.Overrides) {
	a.overridesMu.Lock()
	defer a.overridesMu.Unlock()
	a.fileOverrides = o
	a.putOverrides()
}

// setFleetOverrides takes the fleet's operator state from etcd and puts it
// in force with the admin_state file's.
func (a *App) setFleetOverrides(o *healthcheck.Overrides) {
	a.overridesMu.Lock()
	defer a.overridesMu.Unlock()
	a.fleetOverrides = o
	a.putOverrides()
}

// putOverrides publishes the admin_state file's overrides with the
// fleet's on top: where both name one endpoint, region or weight, the
// fleet's entry, which the admin API writes, wins. Without a cluster it is
// the file's alone. It is called with overridesMu held.
func (a *App) putOverrides() {
	if a.Operator == nil {
		a.Health.SetOverrides(a.fileOverrides)
		return
	}
	a.Health.SetOverrides(a.fileOverrides.Merge(a.fleetOverrides))
}

// operatorState is where the admin API keeps drains and weights: the
// fleet's etcd with a cluster, else nil (the admin_state file).
func (a *App) operatorState() admin.OperatorState {
	if a.Operator == nil {
		return nil
	}
	return a.Operator
}
