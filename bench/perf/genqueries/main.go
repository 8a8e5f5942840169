// Command genqueries writes dnsperf's binary input (dnsperf -B): each query
// as a two-byte big-endian length followed by the wire message, with EDNS0
// (a 1232-byte payload) and, where the query has a client subnet, an EDNS
// Client Subnet option (RFC 7871) with that subnet as the source prefix.
// dnsperf's text input cannot carry a different ECS option per query.
//
// It either converts a query spec of "name type [subnet]" lines
// (bench/queries/README.md), or, with -ecs-mix N, generates the ECS query
// mix of bench/dnsperf.sh: N queries for the www service, A and AAAA, over
// 2N/5 distinct client subnets (half IPv4 /24s, half IPv6 /56s), each asked
// 2 or 3 times in a shuffled order; nine in ten subnets lie in the networks
// of the GeoIP CSV given with -networks (bench/perf/geoip.csv, the
// benchmark's database), spread over all of them, and one in ten in none.
// The mix depends only on the CSV, N and -seed: the same inputs give the
// same bytes. -spec also writes the mix as a readable query spec. With -do
// every query sets the DNSSEC OK bit, asking for signed answers
// (bench/dnssec.sh); the spec is the same with or without it.
//
// With -split 20,40 it writes no queries but a split copy of the GeoIP CSV
// given with -networks to the file -csv-out, in the same format (that of
// `meridian geoip build --format csv`): every IPv4 network shorter than /20
// split into all its /20s and every IPv6 network shorter than /40 into all
// its /40s, each with its entry's data and coordinates moved by up to half
// a degree (drawn with -seed), so that each is a record of its own as in a
// GeoIP City database (bench/dnsperf.sh NETWORKS=split). Networks already
// that long or longer are copied. The same inputs give the same bytes; a
// split making more than 1,000,000 networks is refused.
//
// Usage:
//
//	genqueries [-do] -o queries.bin spec.txt
//	genqueries -ecs-mix 10000 [-networks bench/perf/geoip.csv] [-seed 13] [-spec mix.txt] [-do] -o queries.bin
//	genqueries -split 20,40 [-networks bench/perf/geoip.csv] [-seed 13] -csv-out split.csv
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/meridian-dns/meridian/bench/dnsperfinput"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

// errUsage reports a command line that run cannot use; the usage has been
// printed.
var errUsage = errors.New("usage")

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "genqueries:", err)
		os.Exit(1)
	}
}

// run is the command with its arguments; it reports on stderr.
func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("genqueries", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "dnsperf binary input file to write")
	mix := fs.Int("ecs-mix", 0, "generate an ECS query mix of this many queries instead of reading a spec")
	networks := fs.String("networks", "bench/perf/geoip.csv", "with -ecs-mix: the GeoIP CSV whose networks hold the mapped client subnets; with -split: the GeoIP CSV to split")
	seed := fs.Uint64("seed", 13, "with -ecs-mix or -split: the seed of the draws")
	name := fs.String("name", "www.example.com.", "with -ecs-mix: the question name")
	spec := fs.String("spec", "", "with -ecs-mix: also write the mix as a query spec to this file")
	do := fs.Bool("do", false, "set the DNSSEC OK bit in every query")
	split := fs.String("split", "", "write a split copy of the -networks CSV instead of queries: `IPV4BITS,IPV6BITS`, the lengths its networks are split to, such as 20,40")
	csvOut := fs.String("csv-out", "", "with -split: the GeoIP CSV file to write")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: genqueries [-do] -o queries.bin spec.txt\n"+
			"       genqueries -ecs-mix N [-networks geoip.csv] [-seed S] [-spec mix.txt] [-do] -o queries.bin\n"+
			"       genqueries -split IPV4BITS,IPV6BITS [-networks geoip.csv] [-seed S] -csv-out split.csv\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if *split != "" || *csvOut != "" {
		// Only -networks and -seed go with -split.
		other := false
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "split", "csv-out", "networks", "seed":
			default:
				other = true
			}
		})
		if *split == "" || *csvOut == "" || other || fs.NArg() != 0 {
			fs.Usage()
			return errUsage
		}
		return runSplit(*split, *networks, *seed, *csvOut, stderr)
	}
	wantArgs := 1
	if *mix != 0 {
		wantArgs = 0
	}
	if *out == "" || fs.NArg() != wantArgs || (*mix == 0 && *spec != "") {
		fs.Usage()
		return errUsage
	}

	if *mix == 0 {
		qs, err := dnsperfinput.ReadSpec(fs.Arg(0))
		if err != nil {
			return err
		}
		if err := writeBinary(*out, qs, *do); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "genqueries: %d queries%s from %s to %s\n", len(qs), withDO(*do), fs.Arg(0), *out)
		return nil
	}

	entries, err := readNetworks(*networks)
	if err != nil {
		return err
	}
	qs, err := ecsMix(entries, mixOptions{Queries: *mix, Seed: *seed, Name: *name})
	if err != nil {
		return err
	}
	if *spec != "" {
		var b bytes.Buffer
		how := fmt.Sprintf("genqueries -ecs-mix %d -networks %s -seed %d -name %s", *mix, *networks, *seed, *name)
		if err := writeSpec(&b, how, qs); err != nil {
			return err
		}
		if err := os.WriteFile(*spec, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if err := writeBinary(*out, qs, *do); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "genqueries: %d ECS queries%s (seed %d) over the networks of %s to %s\n", len(qs), withDO(*do), *seed, *networks, *out)
	return nil
}

// runSplit writes the split copy of the GeoIP CSV networks to csvOut (see
// splitNetworks); value is the -split flag's.
func runSplit(value, networks string, seed uint64, csvOut string, stderr io.Writer) error {
	opts, err := parseSplit(value)
	if err != nil {
		return err
	}
	opts.Seed = seed
	entries, err := readNetworks(networks)
	if err != nil {
		return err
	}
	split, err := splitNetworks(entries, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", networks, err)
	}
	var b bytes.Buffer
	how := fmt.Sprintf("genqueries -split %d,%d -networks %s -seed %d", opts.Bits4, opts.Bits6, networks, seed)
	if err := writeCSV(&b, how, split); err != nil {
		return err
	}
	if err := os.WriteFile(csvOut, b.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "genqueries: %d networks from the %d of %s, split to IPv4 /%d and IPv6 /%d (seed %d), to %s\n",
		len(split), len(entries), networks, opts.Bits4, opts.Bits6, seed, csvOut)
	return nil
}

// writeBinary writes qs as dnsperf binary input to the file path, every
// query with the DO bit when do is set.
func writeBinary(path string, qs []dnsperfinput.Query, do bool) error {
	for i := range qs {
		qs[i].DO = do
	}
	var b bytes.Buffer
	if err := dnsperfinput.WriteBinary(&b, qs); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// withDO is how the summary line says that the queries set the DO bit.
func withDO(do bool) string {
	if do {
		return " with the DO bit"
	}
	return ""
}

// readNetworks reads the entries of a GeoIP CSV (the format of
// `meridian geoip build --format csv`).
func readNetworks(path string) ([]mmdbbuild.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := mmdbbuild.ReadCSV(f)
	if le, ok := errors.AsType[*mmdbbuild.LineError](err); ok {
		le.File = path
		return nil, le
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}
