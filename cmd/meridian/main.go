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

	"github.com/spf13/cobra"

	"github.com/meridian-dns/meridian"
	"github.com/meridian-dns/meridian/app"
	"github.com/meridian-dns/meridian/config"
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
	cmd.AddCommand(serveCmd(), checkCmd(), explainCmd(), geoipCmd(), versionCmd())
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

// loadConfig reads --config, else ./meridian.yaml, else the built-in demo
// (extracted to a temporary directory).
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		if _, err := os.Stat("meridian.yaml"); err == nil {
			path = "meridian.yaml"
		}
	}
	if path != "" {
		return config.Load(path, cmd.Flags())
	}
	dir, err := os.MkdirTemp("", "meridian-demo-")
	if err != nil {
		return nil, err
	}
	if err := meridian.ExtractDemo(dir); err != nil {
		return nil, fmt.Errorf("extracting the demo: %w", err)
	}
	cfg, err := config.Load(filepath.Join(dir, meridian.DemoConfig), cmd.Flags())
	if err != nil {
		return nil, err
	}
	// The demo's paths are relative to the extracted tree, unless the
	// environment or a flag replaced them.
	for _, p := range []*string{&cfg.Zones, &cfg.GeoIP.City} {
		if *p != "" && !filepath.IsAbs(*p) {
			if _, err := os.Stat(filepath.Join(dir, *p)); err == nil {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "meridian: no --config and no ./meridian.yaml: serving the built-in demo from %s\n", dir)
	return cfg, nil
}

func serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve DNS (the built-in demo when no configuration is given)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			a, err := app.New(cfg, logger, versionString())
			if err != nil {
				var joined interface{ Unwrap() []error }
				if errors.As(err, &joined) {
					for _, e := range joined.Unwrap() {
						fmt.Fprintln(os.Stderr, e)
					}
					return fmt.Errorf("%d problems found", len(joined.Unwrap()))
				}
				return err
			}
			snap := a.Zones.Current()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "configuration %s: ok\n", orDemo(cfg.File))
			for _, z := range snap.Zones() {
				fmt.Fprintf(out, "zone %s: serial %d, %d records (%s)\n", z.Origin, z.Serial, z.Records, z.File)
			}
			for _, z := range snap.Zones() {
				for _, svc := range z.Services() {
					fmt.Fprintf(out, "service %s: %d endpoints in %d regions, routing %s, select %s\n",
						svc.Name, len(svc.Endpoints), countRegions(svc), svc.Routing, svc.Select)
				}
			}
			fmt.Fprintf(out, "%d zones, %d records, %d health-check targets\n", len(snap.Zones()), snap.Records(), len(snap.Targets()))
			return nil
		},
	}
	cmd.Flags().String("config", "", "configuration file (default ./meridian.yaml, else the built-in demo)")
	config.Flags(cmd.Flags())
	return cmd
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
