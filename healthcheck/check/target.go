package check

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Target is one thing to probe: a check applied to the address an endpoint
// is checked on (its check_address, or its address when it has none).
type Target struct {
	Spec    Spec
	Address netip.Addr
}

// Key identifies what a Target probes. Targets with equal keys are probed
// once and share their state, however many services use them. Keys are
// comparable and are built only by Target.Key.
type Key struct {
	typ    Type
	addr   netip.Addr
	port   uint16
	params string
	// label is String's text. It is derived from the fields above, so it
	// never makes equal probes compare unequal.
	label string
}

// Key returns the target's identity: its type, address, port and every
// parameter that changes what is probed or how its state moves (after
// defaults are applied, so an omitted port and the default port are the
// same). The check's name is part of the key only for exec checks, which
// receive it in their environment.
func (t Target) Key() Key {
	s := t.Spec.WithDefaults()
	var b strings.Builder
	field := func(name, value string) {
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(value))
		b.WriteByte(' ')
	}
	field("interval", s.Interval.String())
	field("timeout", s.Timeout.String())
	field("rise", strconv.Itoa(s.Rise))
	field("fall", strconv.Itoa(s.Fall))
	switch s.Type {
	case HTTP, HTTPS:
		field("path", s.Path)
		field("host", s.Host)
		field("expect_status", fmt.Sprint(s.ExpectStatus))
		field("expect_body", s.ExpectBody)
		field("load_header", s.LoadHeader)
		field("tls_skip_verify", strconv.FormatBool(s.TLSSkipVerify && s.Type == HTTPS))
	case DNS:
		field("query", s.Query)
		field("expect_rcode", fmt.Sprint(s.ExpectRcode))
	case Exec:
		field("name", s.Name)
		for _, arg := range s.Command {
			field("arg", arg)
		}
	}
	port := s.Port
	if port < 0 || port > 65535 {
		port = 0
	}
	addr := t.Address.Unmap()
	hostPort := netip.AddrPortFrom(addr, uint16(port)).String()
	var label string
	switch s.Type {
	case HTTP, HTTPS:
		label = string(s.Type) + "://" + hostPort + s.Path
		if s.Host != "" {
			label += " host=" + s.Host
		}
	case DNS:
		label = "dns://" + hostPort + " " + s.Query
	case Exec:
		host := addr.String()
		if port != 0 {
			host = hostPort
		}
		label = "exec://" + host + " " + s.Name
	default:
		label = string(s.Type) + "://" + hostPort
	}
	return Key{typ: s.Type, addr: addr, port: uint16(port), params: b.String(), label: label}
}

// Type returns the check type of the key.
func (k Key) Type() Type { return k.typ }

// Addr returns the probed address.
func (k Key) Addr() netip.Addr { return k.addr }

// Port returns the probed port (0 for an exec check without one).
func (k Key) Port() int { return int(k.port) }

// String describes the key for logs and the admin API, for example
// "http://127.0.0.10:80/healthz host=www.example.com" or
// "dns://[2001:db8::1]:53 www.example.com. A". It is meant for people: two
// keys that differ only in, say, expect_body print the same.
func (k Key) String() string { return k.label }

// ID returns a stable name of the key for other processes to share: 32
// hexadecimal digits of a SHA-256 over everything the key compares, so
// keys that differ only in, say, expect_body have different IDs while
// String prints them the same. Meridian instances of one version derive
// the same ID from the same check; the fleet keys its health
// observations by it.
func (k Key) ID() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s", k.typ, k.addr, k.port, k.params)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// HostPort returns the address and port to dial, as "[addr]:port" for IPv6.
func (t Target) HostPort() string {
	return netip.AddrPortFrom(t.Address.Unmap(), uint16(t.Spec.Port)).String()
}
