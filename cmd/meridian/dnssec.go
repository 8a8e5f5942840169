package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/meridian-dns/meridian/app"
	"github.com/meridian-dns/meridian/dnssec"
	"github.com/meridian-dns/meridian/zones"
)

func dnssecCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dnssec",
		Short: "Make a zone's DNSSEC keys and print the DS records for its parent",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(keygenCmd(), dsCmd())
	return cmd
}

func keygenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen ZONE --dir DIR [--algorithm ECDSAP256SHA256|ED25519]",
		Short: "Make a CSK for a zone as a BIND key-file pair",
		Long: `Keygen makes a combined signing key (CSK: flags 257, signs the whole zone)
for ZONE and writes it into DIR as BIND does: K<zone>.+<alg>+<tag>.key and
K<zone>.+<alg>+<tag>.private (mode 0600), created, published and active
from now. BIND's tools read the files (dnssec-settime to schedule a
rollover, dnssec-dsfromkey). It never overwrites a file. It prints the
key's name and its DS record, for the registrar.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, _ := cmd.Flags().GetString("dir")
			algName, _ := cmd.Flags().GetString("algorithm")
			alg, err := dnssec.AlgorithmNamed(algName)
			if err != nil {
				return err
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return fmt.Errorf("--dir %s: not a directory: create it first, readable only by the user Meridian runs as (mkdir -m 700)", dir)
			}
			k, err := dnssec.Generate(args[0], alg, 257, time.Now())
			if err != nil {
				return err
			}
			if err := k.WriteFiles(dir); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s\n", k.Name())
			fmt.Fprintf(out, "%s\n", dnssec.FormatDS(k.DNSKEY.ToDS(dns.SHA256)))
			return nil
		},
	}
	cmd.Flags().String("dir", "", "the zone's keys directory (the zone file's dnssec.keys)")
	cmd.Flags().String("algorithm", dns.AlgorithmToString[dnssec.DefaultAlgorithm], "ECDSAP256SHA256 or ED25519")
	cmd.MarkFlagRequired("dir")
	return cmd
}

func dsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ds ZONE [--config FILE | --keys DIR]",
		Short: "Print the DS records (SHA-256) of a zone's active KSK or CSK, for the registrar",
		Long: `DS prints the DS records (digest SHA-256) of the keys ZONE's parent should
hold now: its published KSKs or CSKs that sign the DNSKEY RRset (or, with
SyncPublish set, from then on), as the zone's CDS records also say. The
keys are the zone's, as its zone file's dnssec.keys names them (with
--config, else ./meridian.yaml), or those in --keys DIR.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			zone := dns.CanonicalName(args[0])
			now := time.Now()
			keysDir, _ := cmd.Flags().GetString("keys")
			var ks *dnssec.KeySet
			if keysDir != "" {
				if c, _ := cmd.Flags().GetString("config"); c != "" {
					return errors.New("give --config or --keys, not both")
				}
				var err error
				if ks, err = dnssec.LoadKeys(keysDir, zone); err != nil {
					return err
				}
			} else {
				cfg, cleanup, err := loadConfig(cmd)
				defer cleanup()
				if err != nil {
					return err
				}
				snap, err := zones.LoadWithLimits(cfg.Zones, nil, app.ZoneLimits(cfg))
				if err != nil {
					return err
				}
				z := snap.Zone(zone)
				switch {
				case z == nil:
					return fmt.Errorf("no zone %s in %s", zone, cfg.Zones)
				case z.DNSSEC == nil:
					return fmt.Errorf("zone %s (%s) is not signed: set dnssec: {enabled: true, keys: DIR} in its zone file", zone, z.File)
				}
				ks = z.DNSSEC.Keys
			}
			ds := ks.DS(now)
			if len(ds) == 0 {
				return fmt.Errorf("no KSK or CSK of %s in %s is active now: meridian check says why", zone, ks.Dir)
			}
			for _, d := range ds {
				fmt.Fprintln(cmd.OutOrStdout(), dnssec.FormatDS(d))
			}
			return nil
		},
	}
	cmd.Flags().String("config", "", "configuration file (default ./meridian.yaml, else the built-in demo)")
	cmd.Flags().String("keys", "", "read the keys from this directory instead of the zone's")
	return cmd
}

// describeKeys says, for `meridian check`, what a signed zone's keys do now.
func describeKeys(z *zones.Zone, now time.Time) string {
	d := z.DNSSEC
	var parts []string
	for _, k := range d.Keys.Keys {
		state := "retired"
		switch {
		case k.Active(now):
			state = "active"
		case k.Published(now):
			state = "published"
		case k.Activate.After(now) || k.Publish.After(now):
			state = "scheduled"
		}
		parts = append(parts, fmt.Sprintf("%s %s", k, state))
	}
	line := fmt.Sprintf("dnssec %s: %s, %s denial; %s", z.Origin, dns.AlgorithmToString[d.Algorithm], d.Denial, strings.Join(parts, ", "))
	if next := d.Keys.NextEvent(now); !next.IsZero() {
		line += "; next key event " + next.UTC().Format(time.RFC3339)
	}
	return line
}
