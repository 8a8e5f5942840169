package main

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/meridian-dns/meridian/app"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

func explainCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain --client IP[/PREFIX] NAME [A|AAAA]",
		Short: "Show how a service name would be answered for a client, and why",
		Long: `Explain locates the client, applies the zone's region maps, orders the
candidate regions and picks endpoints, exactly as serve would, and prints
each step. A client given as IP/PREFIX is treated as an EDNS Client Subnet
(and the ECS scope of the answer is shown); a bare IP as the resolver's
address. Health checks are not run here: every endpoint counts as up. Ask a
running server (dig TXT _explain.NAME from a debug network) for live health.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, cleanup, err := loadConfig(cmd)
			defer cleanup()
			if err != nil {
				return err
			}
			clientArg, _ := cmd.Flags().GetString("client")
			client, err := routing.ParseClient(clientArg)
			if err != nil {
				return err
			}
			qtypes := []uint16{dns.TypeA, dns.TypeAAAA}
			if len(args) == 2 {
				t, ok := dns.StringToType[strings.ToUpper(args[1])]
				if !ok || (t != dns.TypeA && t != dns.TypeAAAA) {
					return fmt.Errorf("type %q: services answer A and AAAA", args[1])
				}
				qtypes = []uint16{t}
			}
			snap, err := zones.LoadWithLimits(cfg.Zones, nil, app.ZoneLimits(cfg))
			if err != nil {
				return err
			}
			var locator routing.Locator
			if p := (geo.Paths{City: cfg.GeoIP.City, Country: cfg.GeoIP.Country, ASN: cfg.GeoIP.ASN}); p != (geo.Paths{}) {
				db, err := geo.Open(p)
				if err != nil {
					return err
				}
				locator = db
			}
			res := snap.Lookup(dns.Fqdn(args[0]), dns.TypeA)
			if res.Service == nil {
				return fmt.Errorf("%s is not a service name in any zone (rcode %s)", dns.Fqdn(args[0]), dns.RcodeToString[res.Rcode])
			}
			router := routing.New(locator, nil)
			out := cmd.OutOrStdout()
			for _, qt := range qtypes {
				d := router.Decide(res.Service, qt, client, true)
				for _, line := range routing.Explain(res.Service, qt, client, d) {
					fmt.Fprintln(out, line)
				}
				fmt.Fprintln(out)
			}
			return nil
		},
	}
	cmd.Flags().String("config", "", "configuration file (default ./meridian.yaml, else the built-in demo)")
	cmd.Flags().String("client", "", "client address, or client subnet as IP/PREFIX (required)")
	cmd.MarkFlagRequired("client")
	config.Flags(cmd.Flags())
	return cmd
}

func geoipCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "geoip", Short: "GeoIP database tools"}
	build := &cobra.Command{
		Use:   "build --format tor|csv --in FILE [--in FILE6] --out FILE.mmdb",
		Short: "Build a MaxMind-format database from Tor's range files or a CSV",
		Long: `Build writes a MaxMind-format (MMDB) database of the type --type names:
  GeoIP2-City     (the default) every field the input has: country,
                  continent, coordinates, subdivision, ASN. Load it as
                  geoip.city.
  GeoIP2-Country  country and continent only. Load it as geoip.country.
  GeoLite2-ASN    ASN and AS organisation only. Load it as geoip.asn.
Input formats (--format):
  tor  Tor's geoip files (Debian's tor-geoipdb: /usr/share/tor/geoip and
       geoip6), lines "lo,hi,CC"; give both with two --in flags. They
       hold countries only: build them with --type GeoIP2-Country.
  csv  lines "network,country[,continent,lat,lon,asn[,subdivision[,as_org]]]".
The output is written to a temporary file and renamed into place, so a
running Meridian watching it never reads half a file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, _ := cmd.Flags().GetString("format")
			in, _ := cmd.Flags().GetStringArray("in")
			out, _ := cmd.Flags().GetString("out")
			dbType, _ := cmd.Flags().GetString("type")
			if len(in) == 0 || out == "" {
				return fmt.Errorf("--in and --out are required")
			}
			n, err := mmdbbuild.BuildFile(format, in, out, dbType)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d networks\n", out, n)
			return nil
		},
	}
	build.Flags().String("format", "csv", "input format: tor or csv")
	build.Flags().StringArray("in", nil, "input file (repeat for Tor's IPv6 file)")
	build.Flags().String("out", "", "output .mmdb file")
	build.Flags().String("type", mmdbbuild.TypeCity, "database type: GeoIP2-City (load as geoip.city), GeoIP2-Country (geoip.country) or GeoLite2-ASN (geoip.asn)")
	cmd.AddCommand(build)
	return cmd
}
