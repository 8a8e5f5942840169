// Package dnsperfinput turns query specs ("name type [ecs-subnet]" lines,
// see bench/queries/README.md) into dnsperf's binary input (dnsperf -B):
// each query a two-byte big-endian length and a wire message with EDNS0 and,
// where the line names a subnet, an EDNS Client Subnet option. dnsperf's
// text input cannot carry a different ECS option per query, so the soak
// test and bench/dnsperf.sh both use this.
package dnsperfinput

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// EDNSSize is the EDNS payload size every query advertises.
const EDNSSize = 1232

// Query is one line of a query spec: a question and, optionally, the client
// subnet to send in an ECS option.
type Query struct {
	Name   string
	Type   uint16
	Subnet netip.Prefix // the zero Prefix when the line has none
	Line   int
	// DO sets the DNSSEC OK bit (RFC 3225), asking for signed answers.
	// Specs have no column for it: a whole file asks with it or without.
	DO bool
}

// ReadSpec parses a query spec file; see bench/queries/README.md.
func ReadSpec(path string) ([]Query, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	qs, err := ParseSpec(f)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	return qs, nil
}

// ParseSpec reads lines of "name type [ecs-subnet]"; blank lines and
// lines starting with # are skipped. Errors start with the line number.
func ParseSpec(r io.Reader) ([]Query, error) {
	var out []Query
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
			return nil, fmt.Errorf("%d: want \"name type [ecs-subnet]\", got %q", n, line)
		}
		if _, ok := dns.IsDomainName(f[0]); !ok {
			return nil, fmt.Errorf("%d: %q is not a domain name", n, f[0])
		}
		t, ok := dns.StringToType[strings.ToUpper(f[1])]
		if !ok {
			return nil, fmt.Errorf("%d: unknown query type %q", n, f[1])
		}
		q := Query{Name: dns.Fqdn(f[0]), Type: t, Line: n}
		if len(f) == 3 {
			p, err := netip.ParsePrefix(f[2])
			if err != nil {
				return nil, fmt.Errorf("%d: ECS subnet: %v", n, err)
			}
			if p != p.Masked() {
				return nil, fmt.Errorf("%d: ECS subnet %s has host bits set (did you mean %s?)", n, p, p.Masked())
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

// Msg returns q as a DNS query with EDNS0 (with the DO bit when q.DO) and,
// when q has a subnet, an ECS option carrying it.
func (q Query) Msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Type)
	m.RecursionDesired = false
	m.SetEdns0(EDNSSize, q.DO)
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

// WriteBinary writes qs in dnsperf's binary input format (-B): each
// query as a two-byte big-endian length followed by the wire message. Every
// message has ID 0, so the same queries always give the same bytes: dnsperf
// writes an ID of its own into each query it sends.
func WriteBinary(w io.Writer, qs []Query) error {
	bw := bufio.NewWriter(w)
	for _, q := range qs {
		m := q.Msg()
		m.Id = 0
		wire, err := m.Pack()
		if err != nil {
			return fmt.Errorf("line %d: packing %s %s: %w", q.Line, q.Name, dns.TypeToString[q.Type], err)
		}
		var n [2]byte
		binary.BigEndian.PutUint16(n[:], uint16(len(wire)))
		bw.Write(n[:])
		bw.Write(wire)
	}
	return bw.Flush()
}

// WriteFile converts the spec at spec into a dnsperf binary input
// file at out and returns how many queries it holds.
func WriteFile(spec, out string) (int, error) {
	qs, err := ReadSpec(spec)
	if err != nil {
		return 0, err
	}
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	if err := WriteBinary(f, qs); err != nil {
		f.Close()
		return 0, err
	}
	return len(qs), f.Close()
}

// ReadBinary splits dnsperf binary input back into messages: the inverse
// of WriteBinary, for checking a generated file.
func ReadBinary(b []byte) ([]*dns.Msg, error) {
	var out []*dns.Msg
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%d trailing bytes", len(b))
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, fmt.Errorf("message of %d bytes, %d left", n, len(b)-2)
		}
		m := new(dns.Msg)
		if err := m.Unpack(b[2 : 2+n]); err != nil {
			return nil, err
		}
		out = append(out, m)
		b = b[2+n:]
	}
	return out, nil
}
