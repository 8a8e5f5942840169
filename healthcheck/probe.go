package healthcheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// Result is the outcome of one probe.
type Result struct {
	// OK reports whether the endpoint passed the check.
	OK bool
	// Latency is how long the probe took, successful or not.
	Latency time.Duration
	// Err says why the probe failed; it is nil when OK is true. Its
	// message may quote the target and is therefore sanitised and at most
	// MaxDetailBytes long (see sanitizeDetail).
	Err error
	// Load is the load the endpoint reported (0..1), or -1 when it reported
	// none.
	Load float64
}

// prober runs one kind of check against one target. A prober is built once
// per Key and used by one goroutine at a time; probe returns the load the
// endpoint reported (-1 for none) and why the check failed.
type prober interface {
	probe(ctx context.Context) (load float64, err error)
}

// runProbe runs p bounded by timeout and times it. The error it returns
// is sanitised: whatever the target sent, a status line, a certificate or
// a command's output, reaches the status page and the logs only capped and
// printable.
func runProbe(ctx context.Context, p prober, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	load, err := p.probe(ctx)
	latency := time.Since(start)
	if err != nil {
		var netErr net.Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		return Result{Latency: latency, Err: sanitizeError(err), Load: -1}
	}
	return Result{OK: true, Latency: latency, Load: load}
}

// newProber builds the prober for a validated target with defaults applied.
// Its connections leave from source when source is valid and of the
// target's address family.
func newProber(t check.Target, rootCAs *x509.CertPool, source netip.Addr) (prober, error) {
	s := t.Spec
	switch s.Type {
	case check.TCP:
		return &tcpProber{addr: t.HostPort(), dialer: dialerFrom(source, t.Address, "tcp")}, nil
	case check.HTTP, check.HTTPS:
		return newHTTPProber(t, rootCAs, dialerFrom(source, t.Address, "tcp")), nil
	case check.DNS:
		name, qtype, err := check.ParseQuery(s.Query)
		if err != nil {
			return nil, err
		}
		return &dnsProber{addr: t.HostPort(), name: name, qtype: qtype, expect: s.ExpectRcode, timeout: s.Timeout,
			dialer: dialerFrom(source, t.Address, "udp")}, nil
	case check.Exec:
		port := ""
		if s.Port != 0 {
			port = strconv.Itoa(s.Port)
		}
		return &execProber{
			command: s.Command,
			env: []string{
				"MERIDIAN_ADDRESS=" + t.Address.Unmap().String(),
				"MERIDIAN_PORT=" + port,
				"MERIDIAN_CHECK=" + s.Name,
			},
		}, nil
	default:
		return nil, fmt.Errorf("unknown type %q", string(s.Type))
	}
}

// dialerFrom returns a dialer whose connections over network ("tcp" or
// "udp") leave from source (the healthcheck.source_address setting), or
// the default dialer when source is not set or is of another address
// family than target.
func dialerFrom(source, target netip.Addr, network string) *net.Dialer {
	source = source.Unmap()
	if !source.IsValid() || source.Is4() != target.Unmap().Is4() {
		return &net.Dialer{}
	}
	if network == "udp" {
		return &net.Dialer{LocalAddr: &net.UDPAddr{IP: source.AsSlice()}}
	}
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: source.AsSlice()}}
}

// tcpProber passes when a TCP connection can be opened.
type tcpProber struct {
	addr   string
	dialer *net.Dialer
}

func (p *tcpProber) probe(ctx context.Context) (float64, error) {
	d := p.dialer
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return -1, err
	}
	conn.Close()
	return -1, nil
}

// httpProber passes when a GET returns an expected status and, if asked, a
// body containing a substring.
type httpProber struct {
	client     *http.Client
	url        string
	host       string
	expect     []check.StatusRange
	body       []byte
	loadHeader string
}

func newHTTPProber(t check.Target, rootCAs *x509.CertPool, dialer *net.Dialer) *httpProber {
	s := t.Spec
	tlsConfig := &tls.Config{
		RootCAs:            rootCAs,
		InsecureSkipVerify: s.TLSSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}
	if s.Host != "" {
		tlsConfig.ServerName = s.Host
	}
	// Every probe opens a fresh connection: a pooled connection would hide
	// a server that stopped accepting, and a probe must measure the path a
	// new client takes. Proxies from the environment are ignored because
	// the probe must reach the endpoint itself.
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	var body []byte
	if s.ExpectBody != "" {
		body = []byte(s.ExpectBody)
	}
	return &httpProber{
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		url:        string(s.Type) + "://" + t.HostPort() + s.Path,
		host:       s.Host,
		expect:     s.ExpectStatus,
		body:       body,
		loadHeader: s.LoadHeader,
	}
}

func (p *httpProber) probe(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return -1, err
	}
	if p.host != "" {
		req.Host = p.host
	}
	req.Header.Set("User-Agent", "meridian-healthcheck")
	resp, err := p.client.Do(req)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	if !slices.ContainsFunc(p.expect, func(r check.StatusRange) bool { return r.Contains(resp.StatusCode) }) {
		return -1, fmt.Errorf("status %d, want %s", resp.StatusCode, joinStringers(p.expect))
	}
	if p.body != nil {
		data, err := io.ReadAll(io.LimitReader(resp.Body, check.MaxBodyBytes))
		if err != nil {
			return -1, fmt.Errorf("reading body: %w", err)
		}
		if !bytes.Contains(data, p.body) {
			return -1, fmt.Errorf("body does not contain %q", p.body)
		}
	}
	if p.loadHeader == "" {
		return -1, nil
	}
	return parseLoad(resp.Header.Get(p.loadHeader)), nil
}

// parseLoad reads a load header value, clamped to 0..1. It returns -1 for a
// missing or unreadable value, which means "no load reported".
func parseLoad(v string) float64 {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	f, err := strconv.ParseFloat(v, 64)
	if (err != nil && !errors.Is(err, strconv.ErrRange)) || math.IsNaN(f) {
		return -1
	}
	return min(max(f, 0), 1)
}

func joinStringers[T fmt.Stringer](xs []T) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.String()
	}
	return strings.Join(parts, ", ")
}

// dnsProber passes when a UDP query is answered with an expected rcode.
type dnsProber struct {
	addr    string
	name    string
	qtype   uint16
	expect  []check.Rcode
	timeout time.Duration
	dialer  *net.Dialer
}

func (p *dnsProber) probe(ctx context.Context) (float64, error) {
	m := new(dns.Msg)
	m.SetQuestion(p.name, p.qtype)
	m.RecursionDesired = false
	c := &dns.Client{Net: "udp", Timeout: p.timeout, Dialer: p.dialer}
	resp, _, err := c.ExchangeContext(ctx, m, p.addr)
	if err != nil {
		return -1, err
	}
	if !slices.Contains(p.expect, check.Rcode(resp.Rcode)) {
		return -1, fmt.Errorf("rcode %s, want %s", check.Rcode(resp.Rcode), joinStringers(p.expect))
	}
	return -1, nil
}

// maxExecOutput bounds how much of an exec check's output is kept for its
// error message.
const maxExecOutput = 4 << 10

// execProber passes when a command exits with status 0.
type execProber struct {
	command []string
	env     []string
}

func (p *execProber) probe(ctx context.Context) (float64, error) {
	cmd := exec.CommandContext(ctx, p.command[0], p.command[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	var out limitedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	killProcessGroup(cmd)
	// WaitDelay bounds the wait for output pipes that a stray grandchild
	// might hold open after the command was killed at its timeout.
	cmd.WaitDelay = 100 * time.Millisecond
	if err := cmd.Run(); err != nil {
		if msg := firstLine(out.Bytes()); msg != "" {
			return -1, fmt.Errorf("%s: %w: %s", p.command[0], err, msg)
		}
		return -1, fmt.Errorf("%s: %w", p.command[0], err)
	}
	return -1, nil
}

// limitedBuffer keeps the first maxExecOutput bytes written to it and
// discards the rest without failing the writer.
type limitedBuffer struct {
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxExecOutput - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte { return b.buf.Bytes() }

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}
