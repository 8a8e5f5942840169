// Package app wires Meridian's parts together: configuration, the zone
// store and its watcher, GeoIP, health checks, the DNS handler and
// listeners, metrics, the admin interface and signals. The main package only
// parses the command line and calls it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/admin"
	"github.com/meridian-dns/meridian/app/health"
	"github.com/meridian-dns/meridian/cluster"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/dns/rrl"
	"github.com/meridian-dns/meridian/dns/server"
	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/metrics"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// App is one running Meridian instance.
type App struct {
	Config *config.Config
	Logger *slog.Logger
	Zones  *zones.Store
	// GeoIP is nil when no database is configured.
	GeoIP   *geo.Source
	Checker *healthcheck.Manager
	// Cluster is this instance's membership of a fleet on etcd; nil when
	// no cluster is configured.
	Cluster *cluster.Member
	// Operator is the fleet's drains and weights in etcd; nil when no
	// cluster is configured (they live in the admin_state file).
	Operator *cluster.Operator
	Health   *health.View
	Router   *routing.Router
	Handler  *server.Handler
	Server   *server.Server
	Metrics  *metrics.Metrics
	Registry *prometheus.Registry
	Admin    *admin.Server

	// Follower follows the zones published to the fleet and publishes
	// this instance's status there; nil when no cluster is configured.
	Follower *cluster.Follower

	// Version is reported by CH TXT version.bind when chaos is enabled.
	Version string
	// ReloadDebounce is how long the zone watcher waits for a burst of file
	// events to settle; default 200ms.
	ReloadDebounce time.Duration

	listening atomic.Bool
	started   chan struct{}
	// heldProcs is how many Ps the DNS server's UDP readers hold while it
	// runs (procs.go).
	heldProcs int
	queryLog  *server.SampledLog
	regionLog *routing.RegionLog

	// overridesMu guards the two layers of operator overrides put in
	// force together (operator.go).
	overridesMu    sync.Mutex
	fileOverrides  *healthcheck.Overrides
	fleetOverrides *healthcheck.Overrides
}

// Started is closed once the DNS listeners answer; Server.Addrs and
// Admin.Addr may be read after it.
func (a *App) Started() <-chan struct{} { return a.started }

// New loads everything the configuration names. It fails, naming every
// problem, when anything does not load. It binds no socket.
func New(cfg *config.Config, logger *slog.Logger, version string) (*App, error) {
	a := &App{Config: cfg, Logger: logger, Version: version, ReloadDebounce: 200 * time.Millisecond, started: make(chan struct{})}
	a.Registry = prometheus.NewRegistry()
	a.Metrics = metrics.New(a.Registry, version)

	store, err := zones.NewStoreWithLimits(cfg.Zones, logger, ZoneLimits(cfg))
	if err != nil {
		return nil, err
	}
	a.Zones = store
	var locator routing.Locator
	if paths := (geo.Paths{City: cfg.GeoIP.City, Country: cfg.GeoIP.Country, ASN: cfg.GeoIP.ASN}); paths != (geo.Paths{}) {
		if a.GeoIP, err = geo.NewSource(paths, logger); err != nil {
			return nil, err
		}
		locator = a.GeoIP
		// Failed GeoIP reloads count as failed reloads too; a good one has
		// no zone serial to show, so only failures are counted here.
		a.GeoIP.OnReload = func(err error) {
			if err != nil {
				a.Metrics.Reloads.WithLabelValues("failure").Inc()
			}
		}
	}

	a.Checker = healthcheck.NewManager(healthcheck.Options{
		Logger:        logger,
		AllowExec:     cfg.Health.AllowExec,
		StartupGrace:  cfg.Health.StartupGrace,
		SourceAddress: cfg.Health.Probes.SourceAddr(),
		OnTransition: func(t healthcheck.Transition) {
			a.Metrics.Transitions.WithLabelValues(t.Key.String(), t.To.String()).Inc()
			a.regionLog.Kick()
			if a.Cluster != nil {
				a.Cluster.Kick()
			}
		},
	})
	if err := a.Checker.SetTargets(store.Current().Targets()); err != nil {
		return nil, err
	}
	// A reload checks the new zones' health-check targets without
	// registering them, and hands them to the checker only once those zones
	// are in service: a rejected snapshot never reaches the checker.
	store.Validate = func(s *zones.Snapshot) error { return a.Checker.CheckTargets(s.Targets()) }
	store.Swapped = a.setTargets
	store.OnReload = a.countReload
	if cfg.Cluster.Enabled() {
		if a.Cluster, err = newMember(cfg, store.Current(), a.Checker, logger, version); err != nil {
			return nil, err
		}
		if a.Follower, err = a.newFollower(); err != nil {
			return nil, err
		}
		// The fleet's verdicts, not this instance's probes alone, route.
		a.Health = health.NewView(a.Cluster.Health)
		a.Health.ExplainCheck = a.explainCheck
	} else {
		a.Health = health.NewView(a.Checker.Status)
	}
	if cfg.Cluster.Enabled() {
		if a.Operator, err = a.newOperator(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.Health.AdminState != "" {
		o, err := healthcheck.OverridesFile{Path: cfg.Health.AdminState, MaxBytes: cfg.Limits.ZoneFileBytes}.Load()
		if err != nil {
			return nil, err
		}
		a.setFileOverrides(o)
	}
	a.Router = routing.New(locator, a.Health)
	a.regionLog = routing.NewRegionLog(a.Router, logger)
	a.Health.OnOverrides = a.regionLog.Kick

	text := cfg.DNS.Version
	if text == "" {
		text = "Meridian " + version
	}
	a.Handler = server.NewHandler(store.Pointer(), a.Router, server.Options{
		UDPSize:         uint16(cfg.DNS.UDPSize),
		ServerID:        cfg.DNS.ServerID,
		Chaos:           cfg.DNS.Chaos,
		Version:         text,
		ECS:             cfg.DNS.ECS,
		ECSResolvers:    cfg.DNS.ECSTrustedPrefixes(),
		DebugNetworks:   cfg.DNS.DebugPrefixes(),
		FullPathOnly:    !cfg.DNS.FastPath,
		AnswerCacheSize: cfg.DNS.AnswerCache,
	}, logger)
	a.Handler.Metrics = a.Metrics
	a.Handler.RRL = rrl.New(rrl.Config{
		ResponsesPerSecond: cfg.RRL.ResponsesPerSecond,
		Slip:               cfg.RRL.Slip,
		Window:             cfg.RRL.Window,
		Exempt:             cfg.RRL.ExemptPrefixes(),
		MaxEntries:         cfg.RRL.MaxEntries,
	})
	a.Server = server.New(server.Config{
		Listen:            cfg.Listen,
		UDPSockets:        baseProcs(cfg.GOMAXPROCS),
		TCPIdleTimeout:    cfg.TCP.IdleTimeout,
		TCPWriteTimeout:   cfg.TCP.WriteTimeout,
		TCPMaxConns:       cfg.TCP.MaxConnections,
		TCPMaxConnsPerIP:  cfg.TCP.MaxConnectionsIP,
		TCPClientPrefixV4: cfg.TCP.ClientPrefixV4,
		TCPClientPrefixV6: cfg.TCP.ClientPrefixV6,
		TCPMaxInFlight:    cfg.TCP.MaxInFlight,
	}, a.Handler, logger)
	a.Metrics.SetStateSource(a.metricsState)
	a.countReload(true, nil)

	if cfg.HTTP.Listen != "" {
		a.Admin = admin.New(admin.Config{
			Listen:       cfg.HTTP.Listen,
			Token:        cfg.HTTP.Token,
			Tokens:       cfg.HTTP.Tokens,
			Allowed:      cfg.HTTP.AllowedPrefixes(),
			AllowedHosts: cfg.HTTP.AllowedHosts,
		}, admin.Deps{
			Zones: store, Router: a.Router, Health: a.Health, Checker: a.Checker, Gatherer: a.Registry,
			AdminState: cfg.Health.AdminState, Operator: a.operatorState(), Reload: a.Reload, Ready: a.NotReady, Fleet: a.fleet(),
			Version: version, ServerID: cfg.DNS.ServerID, Logger: logger, FleetStatus: a.fleetReader(),
		})
	}
	return a, nil
}

// ZoneLimits returns the limits the configuration sets on loading zones.
func ZoneLimits(cfg *config.Config) zones.Limits {
	return zones.Limits{FileBytes: cfg.Limits.ZoneFileBytes, Records: cfg.Limits.ZoneRecords}
}

// countReload records a reload attempt in the metrics.
func (a *App) countReload(changed bool, err error) {
	if err != nil {
		a.Metrics.Reloads.WithLabelValues("failure").Inc()
		return
	}
	a.Metrics.Reloads.WithLabelValues("success").Inc()
	a.Metrics.LastReload.SetToCurrentTime()
	a.regionLog.Kick()
}

// setTargets hands the health-check targets of the zones just swapped in to
// the checker. The store's Validate checked them with CheckTargets, so
// SetTargets does not fail; if it did, the checker would keep probing the
// previous targets, and that is logged.
func (a *App) setTargets(s *zones.Snapshot) {
	if err := a.Checker.SetTargets(s.Targets()); err != nil {
		a.Logger.Error("health checker kept the previous targets", "error", err)
	}
}

// NotReady names what Meridian is still waiting for before it answers:
// nothing once it is serving.
func (a *App) NotReady() []string {
	var out []string
	if !a.Checker.Ready() {
		out = append(out, "first round of health checks")
	}
	if !a.listening.Load() {
		out = append(out, "DNS listeners")
	}
	return out
}

// Run serves until ctx ends or SIGTERM/SIGINT arrives, reloading on SIGHUP
// and on changes in the zones directory, then shuts down gracefully. The
// admin listener comes up first (so /readyz can say what is missing); DNS
// answers start once the first round of health checks has finished or the
// startup grace has passed, so Meridian never answers with endpoints it has
// not looked at.
func (a *App) Run(ctx context.Context) error {
	// Take the signals first: a SIGHUP or SIGTERM during startup must not
	// kill the process with the default action.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.Admin != nil {
		if err := a.Admin.Start(); err != nil {
			return err
		}
	}
	if a.Config.Log.Queries {
		a.queryLog = server.NewSampledLog(a.Logger, a.Config.Log.QuerySample)
		a.Handler.QueryLog = a.queryLog
	}
	go a.regionLog.Run(ctx, a.Zones.Current)
	checkerDone := make(chan struct{})
	go func() {
		defer close(checkerDone)
		a.Checker.Run(ctx)
	}()
	defer func() { cancel(); <-checkerDone }()
	if a.Cluster != nil {
		clusterDone := make(chan struct{})
		go func() {
			defer close(clusterDone)
			if err := a.Cluster.Run(ctx); err != nil {
				a.Logger.Error("cluster stopped; health from this instance's probes alone", "error", err)
			}
		}()
		defer func() { cancel(); <-clusterDone }()
		followerDone := make(chan struct{})
		go func() {
			defer close(followerDone)
			if err := a.Follower.Run(ctx); err != nil {
				a.Logger.Error("zone publishing and fleet status stopped", "error", err)
			}
		}()
		defer func() { cancel(); <-followerDone }()
	}
	if a.Operator != nil {
		operatorDone := make(chan struct{})
		go func() {
			defer close(operatorDone)
			if err := a.Operator.Run(ctx); err != nil {
				a.Logger.Error("fleet operator state stopped; drains and weights from admin_state alone", "error", err)
			}
		}()
		defer func() { cancel(); <-operatorDone }()
	}
	if err := a.Checker.WaitReady(ctx); err != nil {
		return a.shutdown()
	}
	a.heldProcs = a.Server.ReaderProcs()
	holdProcs(a.Config.GOMAXPROCS, a.heldProcs)
	if err := a.Server.Start(); err != nil {
		a.shutdown()
		return err
	}
	a.listening.Store(true)
	close(a.started)
	a.watch(ctx)
	snap := a.Zones.Current()
	attrs := []any{"version", a.Version, "listen", addrs(a.Server.Addrs()), "zones", len(snap.Zones()), "records", snap.Records()}
	if a.Admin != nil {
		attrs = append(attrs, "admin", a.Admin.Addr())
	}
	a.Logger.Info("meridian started", attrs...)

	for {
		select {
		case <-ctx.Done():
			return a.shutdown()
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				a.Reload("SIGHUP")
				continue
			}
			a.Logger.Info("shutting down", "signal", sig.String())
			return a.shutdown()
		}
	}
}

// watch starts the watchers of the zones directory, the admin_state file
// and the GeoIP databases; they stop with ctx.
func (a *App) watch(ctx context.Context) {
	go func() {
		if err := a.Zones.Watch(ctx, a.ReloadDebounce); err != nil {
			a.Logger.Error("zone watcher stopped", "error", err)
		}
	}()
	go a.refreshSigned(ctx, time.Minute)
	if path := a.Config.Health.AdminState; path != "" {
		go func() {
			file := healthcheck.OverridesFile{Path: path, MaxBytes: a.Config.Limits.ZoneFileBytes, Logger: a.Logger}
			err := file.Watch(ctx, healthcheck.DefaultOverridesDebounce, func(o *healthcheck.Overrides, err error) {
				if err != nil {
					a.Logger.Error("admin_state reload failed; keeping the previous overrides", "file", path, "error", err)
					return
				}
				a.setFileOverrides(o)
			})
			if err != nil {
				a.Logger.Error("admin_state watcher stopped", "error", err)
			}
		}()
	}
	if l := a.Handler.RRL; l != nil {
		go func() {
			t := time.NewTicker(a.Config.RRL.Window)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					l.Sweep()
				}
			}
		}()
	}
	if a.GeoIP != nil {
		go func() {
			if err := a.GeoIP.Watch(ctx); err != nil {
				a.Logger.Error("GeoIP watcher stopped", "error", err)
			}
		}()
	}
}

// refreshSigned builds the zones again when time changes a signed zone: a
// key changes state or the signature window ends (Snapshot.NextRefresh),
// checking every interval. Signatures stay valid two weeks past the end of
// their window, so a refresh that fails is retried at the next check while
// the zones being served stay valid.
func (a *App) refreshSigned(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			next := a.Zones.Current().NextRefresh()
			if next.IsZero() || now.Before(next) {
				continue
			}
			if err := a.Zones.Refresh(); err != nil {
				a.Logger.Error("re-signing the zones failed; still serving the previous signatures", "error", err)
				continue
			}
			a.Logger.Info("zones re-signed", "reason", "key timing or signature window", "next", a.Zones.Current().NextRefresh())
		}
	}
}

// Reload re-reads the zones and the GeoIP databases; each keeps serving
// its previous state when its new one does not load.
func (a *App) Reload(reason string) error {
	err := a.Zones.ReloadAndLog(reason)
	if a.GeoIP != nil {
		if gerr := a.GeoIP.Reload(); gerr != nil {
			a.Logger.Error("GeoIP reload failed; still using the previous databases", "reason", reason, "error", gerr)
			err = errors.Join(err, gerr)
		}
	}
	return err
}

func (a *App) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.listening.Store(false)
	err := a.Server.Shutdown(ctx)
	releaseProcs(a.heldProcs)
	a.heldProcs = 0
	if a.Admin != nil {
		err = errors.Join(err, a.Admin.Shutdown(ctx))
	}
	if a.queryLog != nil {
		a.queryLog.Close()
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.Logger.Info("stopped")
	return nil
}

// metricsState reports health, zones and GeoIP to the metrics at scrape
// time.
func (a *App) metricsState() metrics.State {
	var st metrics.State
	if l := a.Handler.RRL; l != nil {
		st.RRL = &metrics.RRLSample{Entries: l.Len(), Capacity: l.Capacity(), Evicted: l.Evicted()}
	}
	snap := a.Zones.Current()
	for _, z := range snap.Zones() {
		if !z.Signed() {
			continue
		}
		if st.DNSSEC == nil {
			s := zones.Signer().Stats()
			st.DNSSEC = &metrics.DNSSECSample{Signatures: s.Signatures, Hits: s.Hits, Misses: s.Misses,
				Entries: s.Entries, Expiry: map[string]time.Time{}}
		}
		st.DNSSEC.Expiry[z.Origin] = z.Expiry()
	}
	for _, z := range snap.Zones() {
		st.Zones = append(st.Zones, metrics.ZoneSample{Zone: z.Origin, Serial: z.Serial})
		for _, svc := range z.Services() {
			seen := map[*zones.Region]bool{}
			for _, ep := range svc.Endpoints {
				h := a.Health.Endpoint(ep)
				st.Endpoints = append(st.Endpoints, metrics.EndpointSample{
					Service: svc.Name, Region: ep.Region.Name, Endpoint: ep.Ident, Up: h.Up, Latency: h.Latency})
				if !seen[ep.Region] {
					seen[ep.Region] = true
					c := a.Router.RegionState(svc, ep.Region)
					st.Regions = append(st.Regions, metrics.RegionSample{Service: svc.Name, Region: ep.Region.Name, Healthy: c.Healthy})
				}
			}
		}
	}
	if a.Cluster != nil {
		c := a.Cluster.State()
		st.Cluster = &metrics.ClusterSample{Connected: c.Connected, Instances: len(c.Instances), Targets: c.Targets,
			Observing: c.Observing, Disagreements: c.Disagreements, DisagreementsTotal: c.DisagreementsTotal,
			Malformed: c.Malformed, Writes: c.Writes}
		st.Cluster.ZoneRevision, st.Cluster.ZoneRevisionsRejected = a.Follower.Revision()
		if a.Operator != nil {
			st.Cluster.Malformed += a.Operator.Malformed()
		}
	}
	if a.GeoIP != nil {
		dbs := a.GeoIP.Current()
		for _, info := range dbs.Info() {
			st.GeoIP = append(st.GeoIP, metrics.GeoIPSample{Database: string(info.Role), BuildTime: info.BuildTime,
				LookupErrors: dbs.LookupErrors(info.Role)})
		}
	}
	return st
}

func addrs(aps []netip.AddrPort) []string {
	out := make([]string, len(aps))
	for i, ap := range aps {
		out[i] = ap.String()
	}
	return out
}

// NewLogger returns the slog logger the configuration asks for.
func NewLogger(c config.Log, w *os.File) (*slog.Logger, error) {
	level, err := c.SlogLevel()
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
