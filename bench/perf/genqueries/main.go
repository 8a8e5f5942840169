// Command genqueries turns a query spec of "name type [subnet]" lines into
// dnsperf's binary input (dnsperf -B): each query as a two-byte big-endian
// length followed by the wire message. Every query carries EDNS0 with a
// 1232-byte payload and, when its line names a subnet, an EDNS Client Subnet
// option (RFC 7871) with that subnet as the source prefix. bench/dnsperf.sh
// runs it on bench/perf/ecs.txt, because dnsperf's text input cannot carry a
// different ECS option per query.
//
// Usage:
//
//	genqueries -o queries.bin spec.txt
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/meridian-dns/meridian/bench/dnsperfinput"
)

func main() {
	out := flag.String("o", "", "dnsperf binary input file to write")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: genqueries -o queries.bin spec.txt\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	n, err := dnsperfinput.WriteFile(flag.Arg(0), *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genqueries:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genqueries: %d queries from %s to %s\n", n, flag.Arg(0), *out)
}
