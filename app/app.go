// Package app wires Meridian's parts together: configuration, the zone
// store and its watcher, the DNS handler and listeners, signals. The main
// package only parses the command line and calls it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/dns/server"
	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/healthcheck"
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
	Health  *routing.Checked
	Router  *routing.Router
	Handler *server.Handler
	Server  *server.Server

	// Version is reported by CH TXT version.bind when chaos is enabled.
	Version string
	// ReloadDebounce is how long the zone watcher waits for a burst of file
	// events to settle; default 200ms.
	ReloadDebounce time.Duration
}

// New loads everything the configuration names. It fails, naming every
// problem, when anything does not load.
func New(cfg *config.Config, logger *slog.Logger, version string) (*App, error) {
	store, err := zones.NewStore(cfg.Zones, logger)
	if err != nil {
		return nil, err
	}
	var locator routing.Locator
	var geoSrc *geo.Source
	if paths := (geo.Paths{City: cfg.GeoIP.City, Country: cfg.GeoIP.Country, ASN: cfg.GeoIP.ASN}); paths != (geo.Paths{}) {
		if geoSrc, err = geo.NewSource(paths, logger); err != nil {
			return nil, err
		}
		locator = geoSrc
	}
	checker := healthcheck.NewManager(healthcheck.Options{
		Logger:       logger,
		AllowExec:    cfg.Health.AllowExec,
		StartupGrace: cfg.Health.StartupGrace,
	})
	if err := checker.SetTargets(store.Current().Targets()); err != nil {
		return nil, err
	}
	store.Accept = func(s *zones.Snapshot) error { return checker.SetTargets(s.Targets()) }
	health := routing.NewChecked(checker.Status)
	if cfg.Health.AdminState != "" {
		o, err := healthcheck.LoadOverrides(cfg.Health.AdminState)
		if err != nil {
			return nil, err
		}
		health.SetOverrides(o)
	}
	router := routing.New(locator, health)
	text := cfg.DNS.Version
	if text == "" {
		text = "Meridian " + version
	}
	h := server.NewHandler(store.Pointer(), router, server.Options{
		UDPSize:       uint16(cfg.DNS.UDPSize),
		ServerID:      cfg.DNS.ServerID,
		Chaos:         cfg.DNS.Chaos,
		Version:       text,
		ECS:           cfg.DNS.ECS,
		DebugNetworks: cfg.DNS.DebugPrefixes(),
	}, logger)
	srv := server.New(server.Config{
		Listen:           cfg.Listen,
		TCPIdleTimeout:   cfg.TCP.IdleTimeout,
		TCPMaxConns:      cfg.TCP.MaxConnections,
		TCPMaxConnsPerIP: cfg.TCP.MaxConnectionsIP,
		TCPMaxInFlight:   cfg.TCP.MaxInFlight,
	}, h, logger)
	return &App{Config: cfg, Logger: logger, Zones: store, GeoIP: geoSrc, Checker: checker, Health: health,
		Router: router, Handler: h, Server: srv, Version: version,
		ReloadDebounce: 200 * time.Millisecond}, nil
}

// Run serves until ctx ends or SIGTERM/SIGINT arrives, reloading on SIGHUP
// and on changes in the zones directory, then shuts down gracefully. It
// starts answering once the first round of health checks has finished (or
// the startup grace has passed), so that it never answers with endpoints it
// has not looked at.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	checkerDone := make(chan struct{})
	go func() {
		defer close(checkerDone)
		a.Checker.Run(ctx)
	}()
	defer func() { cancel(); <-checkerDone }()
	if err := a.Checker.WaitReady(ctx); err != nil {
		return err
	}
	if err := a.Server.Start(); err != nil {
		return err
	}
	go func() {
		if err := a.Zones.Watch(ctx, a.ReloadDebounce); err != nil {
			a.Logger.Error("zone watcher stopped", "error", err)
		}
	}()
	if path := a.Config.Health.AdminState; path != "" {
		go func() {
			err := healthcheck.WatchOverrides(ctx, path, healthcheck.DefaultOverridesDebounce, func(o *healthcheck.Overrides, err error) {
				if err != nil {
					a.Logger.Error("admin_state reload failed; keeping the previous overrides", "file", path, "error", err)
					return
				}
				a.Health.SetOverrides(o)
				a.Logger.Info("admin_state reloaded", "file", path, "endpoints", len(o.Endpoints()), "regions", len(o.Regions()))
			})
			if err != nil {
				a.Logger.Error("admin_state watcher stopped", "error", err)
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
	snap := a.Zones.Current()
	a.Logger.Info("meridian started", "version", a.Version, "listen", addrs(a.Server.Addrs()),
		"zones", len(snap.Zones()), "records", snap.Records())

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
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
	if err := a.Server.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.Logger.Info("stopped")
	return nil
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
