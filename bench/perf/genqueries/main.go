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
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// ednsSize is the EDNS payload size every generated query advertises.
const ednsSize = 1232

// query is one line of a spec: a question and, optionally, the client subnet
// to send in an ECS option.
type query struct {
	Name   string
	Type   uint16
	Subnet netip.Prefix // the zero Prefix when the line has none
	Line   int
}

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
	n, err := convert(flag.Arg(0), *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genqueries:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genqueries: %d queries from %s to %s\n", n, flag.Arg(0), *out)
}

// convert reads the spec at specPath, writes its queries in dnsperf's binary
// format to outPath and returns how many it wrote.
func convert(specPath, outPath string) (int, error) {
	f, err := os.Open(specPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	qs, err := parseSpec(f)
	if err != nil {
		return 0, fmt.Errorf("%s:%w", specPath, err)
	}
	w, err := os.Create(outPath)
	if err != nil {
		return 0, err
	}
	if err := writeBinary(w, qs); err != nil {
		w.Close()
		return 0, fmt.Errorf("%s:%w", specPath, err)
	}
	return len(qs), w.Close()
}

// parseSpec reads lines of "name type [subnet]"; blank lines and lines
// starting with # are skipped. Errors start with the line number.
func parseSpec(r io.Reader) ([]query, error) {
	var out []query
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("%d: want \"name type [subnet]\", got %q", n, line)
		}
		if _, ok := dns.IsDomainName(f[0]); !ok {
			return nil, fmt.Errorf("%d: %q is not a domain name", n, f[0])
		}
		t, ok := dns.StringToType[strings.ToUpper(f[1])]
		if !ok {
			return nil, fmt.Errorf("%d: unknown query type %q", n, f[1])
		}
		q := query{Name: dns.Fqdn(f[0]), Type: t, Line: n}
		if len(f) == 3 {
			p, err := netip.ParsePrefix(f[2])
			if err != nil {
				return nil, fmt.Errorf("%d: subnet: %v", n, err)
			}
			if p != p.Masked() {
				return nil, fmt.Errorf("%d: subnet %s has host bits set (did you mean %s?)", n, p, p.Masked())
			}
			q.Subnet = p
		}
		out = append(out, q)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%d: no queries", n)
	}
	return out, nil
}

// msg returns q as a non-recursive query with EDNS0 and, when q has a
// subnet, an ECS option carrying it.
func (q query) msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Type)
	m.RecursionDesired = false
	m.SetEdns0(ednsSize, false)
	if q.Subnet.IsValid() {
		family := uint16(1)
		if q.Subnet.Addr().Is6() {
			family = 2
		}
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{
			Code:          dns.EDNS0SUBNET,
			Family:        family,
			SourceNetmask: uint8(q.Subnet.Bits()),
			Address:       q.Subnet.Addr().AsSlice(),
		})
	}
	return m
}

// writeBinary writes qs to w in dnsperf's binary input format.
func writeBinary(w io.Writer, qs []query) error {
	bw := bufio.NewWriter(w)
	for _, q := range qs {
		wire, err := q.msg().Pack()
		if err != nil {
			return fmt.Errorf("%d: packing %s %s: %w", q.Line, q.Name, dns.TypeToString[q.Type], err)
		}
		var n [2]byte
		binary.BigEndian.PutUint16(n[:], uint16(len(wire)))
		if _, err := bw.Write(n[:]); err != nil {
			return err
		}
		if _, err := bw.Write(wire); err != nil {
			return err
		}
	}
	return bw.Flush()
}
