// Command meridian is an authoritative GeoDNS server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-dns/meridian"
	"github.com/meridian-dns/meridian/app"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/healthcheck/check"
	"github.com/meridian-dns/meridian/zones"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	if err := root().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "meridian:", err)
		os.Exit(1)
	}
}

func root() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "meridian",
		Short:         "Meridian is an authoritative GeoDNS server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(serveCmd(), checkCmd(), explainCmd(), geoipCmd(), dnssecCmd(), publishCmd(), fleetCmd(), versionCmd())
	cmd.AddCommand(operatorCmds()...)
	return cmd
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// loadConfig reads --config, else ./meridian.yaml, else the built-in demo,
// and checks that the paths it names exist. The demo is extracted to a
// temporary directory, which the returned cleanup removes; callers run it
// when they are done with the configuration (cleanup is never nil).
func loadConfig(cmd *cobra.Command) (cfg *config.Config, cleanup func(), err error) {
	cleanup = func() {}
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		if _, err := os.Stat("meridian.yaml"); err == nil {
			path = "meridian.yaml"
		}
	}
	if path != "" {
		if cfg, err = config.Load(path, cmd.Flags()); err != nil {
			return nil, cleanup, err
		}
		return cfg, cleanup, cfg.CheckPaths()
	}
	dir, err := os.MkdirTemp("", "meridian-demo-")
	if err != nil {
		return nil, cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if err := meridian.ExtractDemo(dir); err != nil {
		return nil, cleanup, fmt.Errorf("extracting the demo: %w", err)
	}
	if cfg, err = config.Load(filepath.Join(dir, meridian.DemoConfig), cmd.Flags()); err != nil {
		return nil, cleanup, err
	}
	// The demo's paths are relative to the extracted tree, unless the
	// environment or a flag replaced them. The admin_state file is written
	// by the first drain, so only its directory is there.
	for _, p := range []struct {
		path *string
		must string
	}{{&cfg.Zones, cfg.Zones}, {&cfg.GeoIP.City, cfg.GeoIP.City}, {&cfg.Health.AdminState, filepath.Dir(cfg.Health.AdminState)}} {
		if *p.path != "" && !filepath.IsAbs(*p.path) {
			if _, err := os.Stat(filepath.Join(dir, p.must)); err == nil {
				*p.path = filepath.Join(dir, *p.path)
			}
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "meridian: no --config and no ./meridian.yaml: serving the built-in demo from %s (a copy, removed when meridian exits)\n", dir)
	return cfg, cleanup, cfg.CheckPaths()
}

func serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve DNS (the built-in demo when no configuration is given)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cleanup, err := loadConfig(cmd)
			defer cleanup()
			if err != nil {
				return err
			}
			logger, err := app.NewLogger(cfg.Log, os.Stderr)
			if err != nil {
				return err
			}
			a, err := app.New(cfg, logger, versionString())
			if err != nil {
				return err
			}
			return a.Run(context.Background())
		},
	}
	cmd.Flags().String("config", "", "configuration file (default ./meridian.yaml, else the built-in demo)")
	config.Flags(cmd.Flags())
	return cmd
}

func checkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Load and validate the configuration and zones exactly as serve would",
		Long: `Check loads the configuration and every zone as serve would, without
serving, and prints the zones, the services and what their health checks
will probe. On errors it prints every problem as file:line: message and
exits 1. Warnings (allowed, but probably not what was meant) go to
standard error and do not change the exit status. --verbose lists, for
every check, the exact targets it will probe and the endpoints behind
each.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cleanup, err := loadConfig(cmd)
			defer cleanup()
			if err != nil {
				return err
			}
			a, err := checkedApp(cmd, cfg)
			if err != nil {
				return err
			}
			verbose, _ := cmd.Flags().GetBool("verbose")
			printCheck(cmd.OutOrStdout(), cmd.ErrOrStderr(), orDemo(cfg.File), a.Zones.Current(), verbose)
			return nil
		},
	}
	cmd.Flags().String("config", "", "configuration file (default ./meridian.yaml, else the built-in demo)")
	cmd.Flags().BoolP("verbose", "v", false, "list every target each health check will probe")
	config.Flags(cmd.Flags())
	return cmd
}

// checkedApp loads everything cfg names as serve would, without serving
// (what check and publish do). On errors it prints every problem, as
// file:line: message, to standard error and returns their count.
func checkedApp(cmd *cobra.Command, cfg *config.Config) (*app.App, error) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(cfg, logger, versionString())
	if err != nil {
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			errs := joined.Unwrap()
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
			}
			return nil, fmt.Errorf("%s found", count(len(errs), "problem"))
		}
		return nil, err
	}
	return a, nil
}

// printCheck writes what check found in snap to out, and its warnings to
// warn.
func printCheck(out, warn io.Writer, file string, snap *zones.Snapshot, verbose bool) {
	fmt.Fprintf(out, "configuration %s: ok\n", file)
	for _, z := range snap.Zones() {
		fmt.Fprintf(out, "zone %s: serial %d, %s (%s)\n", z.Origin, z.Serial, count(z.Records, "record"), z.File)
	}
	for _, z := range snap.Zones() {
		if z.DNSSEC != nil {
			fmt.Fprintln(out, describeKeys(z, time.Now()))
		}
	}
	checked := 0
	targets := map[check.Key]bool{}
	for _, z := range snap.Zones() {
		for _, svc := range z.Services() {
			line := fmt.Sprintf("service %s: %s in %s, routing %s, select %s",
				svc.Name, count(len(svc.Endpoints), "endpoint"), count(countRegions(svc), "region"), svc.Routing, svc.Select)
			if svc.Check != nil {
				line += ", check " + svc.Check.Name
			}
			fmt.Fprintln(out, line)
			for _, ep := range svc.Endpoints {
				if ep.Checked {
					checked++
					targets[ep.CheckKey] = true
				}
			}
		}
	}
	for _, z := range snap.Zones() {
		for _, c := range z.Checks() {
			printChecks(out, z, c, verbose)
		}
	}
	for _, z := range snap.Zones() {
		for _, w := range z.Warnings() {
			fmt.Fprintln(warn, "warning:", w)
		}
	}
	fmt.Fprintf(out, "%s, %s, %s checked, %s\n", count(len(snap.Zones()), "zone"), count(snap.Records(), "record"),
		count(checked, "endpoint"), count(len(targets), "distinct probe target"))
}

// printChecks describes check c of zone z: what it probes, how many
// endpoints use it and, verbosely, every target with its endpoints. Equal
// targets are probed once, however many endpoints share them.
func printChecks(out io.Writer, z *zones.Zone, c *zones.Check, verbose bool) {
	var keys []check.Key
	users := map[check.Key][]string{}
	endpoints := 0
	for _, svc := range z.Services() {
		if svc.Check == nil || svc.Check.Name != c.Name {
			continue
		}
		for _, ep := range svc.Endpoints {
			if !ep.Checked {
				continue
			}
			endpoints++
			if users[ep.CheckKey] == nil {
				keys = append(keys, ep.CheckKey)
			}
			users[ep.CheckKey] = append(users[ep.CheckKey], fmt.Sprintf("%s (%s)", ep.Key, ep.Region.Name))
		}
	}
	fmt.Fprintf(out, "check %s of %s: %s; %s, %s\n", c.Name, z.Origin, describeCheck(c),
		count(endpoints, "endpoint"), count(len(keys), "distinct probe target"))
	if !verbose {
		return
	}
	for _, k := range keys {
		fmt.Fprintf(out, "  probe %s for %s\n", k, strings.Join(users[k], ", "))
	}
}

// describeCheck says what a check probes and how often, marking the port
// when it is the type's default rather than the zone file's.
func describeCheck(c *zones.Check) string {
	s := c.Spec
	parts := []string{string(s.Type)}
	if s.Port != 0 {
		port := fmt.Sprintf("port %d", s.Port)
		if c.PortDefaulted {
			port += " (the " + string(s.Type) + " default: no port given)"
		}
		parts = append(parts, port)
	}
	switch s.Type {
	case check.HTTP, check.HTTPS:
		parts = append(parts, "path "+s.Path)
		if s.Host != "" {
			parts = append(parts, "host "+s.Host)
		}
		var st []string
		for _, r := range s.ExpectStatus {
			st = append(st, r.String())
		}
		parts = append(parts, "status "+strings.Join(st, ","))
	case check.DNS:
		parts = append(parts, "query "+s.Query)
	case check.Exec:
		parts = append(parts, "command "+strings.Join(s.Command, " "))
	}
	parts = append(parts, fmt.Sprintf("every %s, timeout %s, rise %d, fall %d", s.Interval, s.Timeout, s.Rise, s.Fall))
	return strings.Join(parts, ", ")
}

// count returns "1 record" or "n records".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func countRegions(s *zones.Service) int {
	seen := map[*zones.Region]bool{}
	for _, ep := range s.Endpoints {
		seen[ep.Region] = true
	}
	return len(seen)
}

func orDemo(path string) string {
	if path == "" {
		return "(built-in demo)"
	}
	return path
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "meridian", versionString())
		},
	}
}
