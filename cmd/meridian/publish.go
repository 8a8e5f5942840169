package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/cluster"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/internal/capped"
	"github.com/meridian-dns/meridian/zones"
)

// etcdTimeout bounds publish's and fleet status's work with etcd.
const etcdTimeout = 30 * time.Second

func publishCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Validate the zones as check does and publish them to the fleet's etcd as one revision",
		Long: `Publish loads the configuration and every zone exactly as check does and,
only when there is no problem, writes every zone file and records_file of
the zones directory to the fleet's etcd (the cluster section) as one
revision, in one transaction. Instances with cluster.zones_from: cluster
serve it. On a problem it prints every one as file:line: message, exits 1
and writes nothing. DNSSEC keys are not published: a signed zone needs an
absolute dnssec.keys directory that exists, with its keys, on every
instance. Publishing files identical to the current revision writes
nothing. See docs/fleet.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cleanup, err := loadConfig(cmd)
			defer cleanup()
			if err != nil {
				return err
			}
			if !cfg.Cluster.Enabled() {
				return errors.New("publish: the configuration has no cluster.etcd.endpoints to publish to")
			}
			a, err := checkedApp(cmd, cfg)
			if err != nil {
				return fmt.Errorf("%w; nothing published", err)
			}
			files, errs := publishedFiles(cfg.Zones, a.Zones.Current(), cfg.Limits.ZoneFileBytes)
			if len(errs) > 0 {
				for _, e := range errs {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				return fmt.Errorf("%s found; nothing published", count(len(errs), "problem"))
			}
			rev, err := cluster.NewRevision(files, publisher(), time.Now())
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			cli, prefix, err := dialEtcd(cfg)
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), etcdTimeout)
			defer cancel()
			res, err := cluster.Publish(ctx, cli, prefix, rev)
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			out := cmd.OutOrStdout()
			if res.Unchanged {
				fmt.Fprintf(out, "unchanged: revision %d already holds these %s\n", res.ID, count(len(files), "file"))
				return nil
			}
			fmt.Fprintf(out, "published revision %d: %s under %s%s", res.ID, count(len(files), "file"), prefix, "zones/")
			if res.Pruned > 0 {
				fmt.Fprintf(out, "; %s pruned", count(res.Pruned, "old revision"))
			}
			fmt.Fprintln(out)
			for _, z := range a.Zones.Current().Zones() {
				fmt.Fprintf(out, "zone %s: serial %d\n", z.Origin, z.Serial)
			}
			return nil
		},
	}
	cmd.Flags().String("config", "", "configuration file (default ./meridian.yaml)")
	config.Flags(cmd.Flags())
	return cmd
}

// publisher names who publishes: user@host.
func publisher() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}

// publishedFiles returns the files of the zones in snap (each zone file
// and its records_file), by path relative to the zones directory dir,
// with the problems that keep them from being served elsewhere: a
// records_file given as an absolute path, or a signed zone whose keys
// directory is relative (keys are not published).
func publishedFiles(dir string, snap *zones.Snapshot, limit int64) (map[string][]byte, []error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, []error{err}
	}
	files := map[string][]byte{}
	var errs []error
	for _, z := range snap.Zones() {
		for _, p := range z.Inputs() {
			abs, err := filepath.Abs(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rel, err := filepath.Rel(absDir, abs)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				errs = append(errs, fmt.Errorf("%s: outside the zones directory %s", p, dir))
				continue
			}
			rel = filepath.ToSlash(rel)
			if err := cluster.CheckZonePath(rel); err != nil {
				errs = append(errs, fmt.Errorf("%s: cannot be published: %v", p, err))
				continue
			}
			b, err := capped.ReadFile(p, limit)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			files[rel] = b
		}
		errs = append(errs, portable(z.File, files[relTo(absDir, z.File)])...)
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return files, errs
}

func relTo(absDir, p string) string {
	abs, _ := filepath.Abs(p)
	rel, _ := filepath.Rel(absDir, abs)
	return filepath.ToSlash(rel)
}

// portable finds what in a zone file would not resolve on the instances,
// which get the zones directory's files and nothing else: an absolute
// records_file, and a relative dnssec.keys of a signed zone.
func portable(file string, src []byte) []error {
	var doc yaml.Node
	if yaml.Unmarshal(src, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	var errs []error
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "records_file":
			if filepath.IsAbs(v.Value) {
				errs = append(errs, fmt.Errorf("%s:%d: records_file: an absolute path is not published; give it relative to the zone file, inside the zones directory", file, v.Line))
			}
		case "dnssec":
			enabled, keys := false, (*yaml.Node)(nil)
			for j := 0; j+1 < len(v.Content); j += 2 {
				switch v.Content[j].Value {
				case "enabled":
					enabled = v.Content[j+1].Value == "true"
				case "keys":
					keys = v.Content[j+1]
				}
			}
			if enabled && keys != nil && !filepath.IsAbs(keys.Value) {
				errs = append(errs, fmt.Errorf("%s:%d: dnssec.keys: keys are not published: a signed zone served from etcd needs an absolute keys directory that exists, with its keys, on every instance", file, keys.Line))
			}
		}
	}
	return errs
}

func fleetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Look at the fleet on etcd",
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List the live instances, the zone revision and serials each serves, its etcd contact and disagreements",
		Long: `Status reads the fleet from etcd (the configuration's cluster section):
the current published zone revision, and for every live instance its
version, where its zones come from, the revision and zone serials it
serves, whether it is in contact with etcd, how many health-check
targets it sees otherwise than the fleet, and a published revision it
refused. GET /api/v1/fleet on an instance's admin API says the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cleanup, err := loadConfig(cmd)
			defer cleanup()
			if err != nil {
				return err
			}
			if !cfg.Cluster.Enabled() {
				return errors.New("fleet status: the configuration has no cluster.etcd.endpoints")
			}
			cli, prefix, err := dialEtcd(cfg)
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), etcdTimeout)
			defer cancel()
			f, err := cluster.ReadFleet(ctx, cli, prefix)
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(f)
			}
			printFleet(cmd.OutOrStdout(), f)
			return nil
		},
	}
	status.Flags().String("config", "", "configuration file (default ./meridian.yaml)")
	status.Flags().Bool("json", false, "print the fleet as JSON, as GET /api/v1/fleet does")
	config.Flags(status.Flags())
	cmd.AddCommand(status)
	return cmd
}

// printFleet writes the fleet as a table.
func printFleet(out io.Writer, f cluster.Fleet) {
	if f.Revision == 0 {
		fmt.Fprintln(out, "published zones: none")
	} else {
		fmt.Fprintf(out, "published zones: revision %d, %s by %s\n", f.Revision, f.Published.UTC().Format(time.RFC3339), f.By)
	}
	fmt.Fprintf(out, "%s\n", count(len(f.Instances), "live instance"))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "INSTANCE\tVERSION\tZONES\tREVISION\tETCD\tDISAGREEMENTS\tSERIALS")
	var notes []string
	for _, i := range f.Instances {
		s := i.Status
		if s == nil {
			fmt.Fprintf(w, "%s\t%s\t-\t-\t-\t-\t-\n", i.Instance, i.Version)
			notes = append(notes, fmt.Sprintf("%s: %s", i.Instance, i.Error))
			continue
		}
		rev, etcd := "-", "connected"
		if s.Revision != 0 {
			rev = fmt.Sprint(s.Revision)
		}
		if !s.Connected {
			etcd = "alone"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", i.Instance, i.Version, s.ZonesFrom, rev, etcd, s.Disagreements, serials(s))
		if s.ZonesFrom == "cluster" && f.Revision != 0 && s.Revision != f.Revision {
			notes = append(notes, fmt.Sprintf("%s: serves revision %s, not the current %d", i.Instance, rev, f.Revision))
		}
		if r := s.Rejected; r != nil {
			notes = append(notes, fmt.Sprintf("%s: refused revision %d: %s", i.Instance, r.Revision, r.Error))
		}
	}
	w.Flush()
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
}

// serials lists an instance's zones and serials, sorted.
func serials(s *cluster.Status) string {
	if s.SerialsOmitted {
		return "(too many zones to list)"
	}
	parts := make([]string, 0, len(s.Serials))
	for z, n := range s.Serials {
		parts = append(parts, fmt.Sprintf("%s=%d", z, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// dialEtcd connects to the configuration's etcd and returns the client
// (the caller closes it) and the key prefix.
func dialEtcd(cfg *config.Config) (*clientv3.Client, string, error) {
	conn, err := cluster.ConnectionFrom(cfg.Cluster.Etcd)
	if err != nil {
		return nil, "", err
	}
	cli, err := cluster.Dial(conn)
	if err != nil {
		return nil, "", err
	}
	return cli, conn.Prefix, nil
}
