package healthcheck

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// probeOnce runs t's check once through a Manager built with opts.
func probeOnce(t *testing.T, opts Options, target check.Target) Result {
	t.Helper()
	m := NewManager(opts)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	r, err := m.Probe(ctx, target)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if r.OK != (r.Err == nil) {
		t.Errorf("Result OK=%v but Err=%v", r.OK, r.Err)
	}
	return r
}

func checkResult(t *testing.T, r Result, wantOK bool, wantErr string) {
	t.Helper()
	if r.OK != wantOK {
		t.Fatalf("OK = %v (err %v), want %v", r.OK, r.Err, wantOK)
	}
	if wantErr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), wantErr)) {
		t.Errorf("error = %v, want it to contain %q", r.Err, wantErr)
	}
}

func TestProbeTCP(t *testing.T) {
	srv := listenTCP(t, "127.0.0.1:0")
	spec := check.Spec{Type: check.TCP, Port: srv.port(), Timeout: time.Second}
	r := probeOnce(t, Options{}, check.Target{Spec: spec, Address: loopback4})
	checkResult(t, r, true, "")
	if r.Latency <= 0 || r.Load != -1 {
		t.Errorf("result = %+v, want positive latency and load -1", r)
	}
	srv.Close()
	checkResult(t, probeOnce(t, Options{}, check.Target{Spec: spec, Address: loopback4}), false, "connection refused")
}

func TestProbeTCPIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	srv := listenTCP(t, "[::1]:0")
	spec := check.Spec{Type: check.TCP, Port: srv.port(), Timeout: time.Second}
	checkResult(t, probeOnce(t, Options{}, check.Target{Spec: spec, Address: netip.IPv6Loopback()}), true, "")
}

func TestProbeHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, "status: ok")
		case "/fail":
			http.Error(w, "broken", http.StatusServiceUnavailable)
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/redirect":
			http.Redirect(w, r, "/fail", http.StatusFound)
		case "/host":
			if r.Host != "www.example.com" {
				http.Error(w, "wrong host "+r.Host, http.StatusMisdirectedRequest)
				return
			}
			fmt.Fprint(w, "ok")
		case "/big":
			w.Write([]byte(strings.Repeat("x", check.MaxBodyBytes)))
			fmt.Fprint(w, "ok")
		case "/load":
			w.Header().Set("X-Load", r.URL.Query().Get("v"))
			fmt.Fprint(w, "ok")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	port := portOf(t, srv.Listener.Addr().String())

	tests := []struct {
		name     string
		spec     check.Spec
		wantOK   bool
		wantErr  string
		wantLoad float64
	}{
		{"200", check.Spec{Path: "/ok"}, true, "", -1},
		{"503", check.Spec{Path: "/fail"}, false, "status 503, want 200-399", -1},
		{"503 accepted", check.Spec{Path: "/fail", ExpectStatus: []check.StatusRange{{Min: 500, Max: 599}}}, true, "", -1},
		{"204 expected", check.Spec{Path: "/nocontent", ExpectStatus: []check.StatusRange{{Min: 204, Max: 204}}}, true, "", -1},
		{"200 not expected", check.Spec{Path: "/ok", ExpectStatus: []check.StatusRange{{Min: 204, Max: 204}, {Min: 300, Max: 399}}}, false, "status 200, want 204, 300-399", -1},
		{"redirect is not followed", check.Spec{Path: "/redirect"}, true, "", -1},
		{"body found", check.Spec{Path: "/ok", ExpectBody: "ok"}, true, "", -1},
		{"body missing", check.Spec{Path: "/ok", ExpectBody: "healthy"}, false, `body does not contain "healthy"`, -1},
		{"body past 64 KiB", check.Spec{Path: "/big", ExpectBody: "ok"}, false, `body does not contain "ok"`, -1},
		{"host header", check.Spec{Path: "/host", Host: "www.example.com"}, true, "", -1},
		{"wrong host header", check.Spec{Path: "/host", Host: "other.example.com"}, false, "status 421", -1},
		{"not found", check.Spec{Path: "/nope"}, false, "status 404", -1},
		{"load", check.Spec{Path: "/load?v=0.25", LoadHeader: "X-Load"}, true, "", 0.25},
		{"load clamped high", check.Spec{Path: "/load?v=1.7", LoadHeader: "X-Load"}, true, "", 1},
		{"load clamped low", check.Spec{Path: "/load?v=-3", LoadHeader: "X-Load"}, true, "", 0},
		{"load garbage", check.Spec{Path: "/load?v=lots", LoadHeader: "X-Load"}, true, "", -1},
		{"load missing", check.Spec{Path: "/ok", LoadHeader: "X-Load"}, true, "", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Type, spec.Port, spec.Timeout = check.HTTP, port, time.Second
			r := probeOnce(t, Options{}, check.Target{Spec: spec, Address: loopback4})
			checkResult(t, r, tc.wantOK, tc.wantErr)
			if r.Load != tc.wantLoad {
				t.Errorf("load = %v, want %v", r.Load, tc.wantLoad)
			}
		})
	}

	srv.Close()
	r := probeOnce(t, Options{}, check.Target{Spec: check.Spec{Type: check.HTTP, Port: port, Timeout: time.Second}, Address: loopback4})
	checkResult(t, r, false, "connection refused")
}

func TestParseLoad(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"", -1}, {"0", 0}, {"0.5", 0.5}, {" 1 ", 1}, {"2", 1}, {"-0.1", 0},
		{"NaN", -1}, {"Inf", 1}, {"-Inf", 0}, {"1e999", 1}, {"half", -1},
	}
	for _, tc := range tests {
		if got := parseLoad(tc.in); got != tc.want {
			t.Errorf("parseLoad(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestProbeHTTPS(t *testing.T) {
	var sni atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni.Store(r.TLS.ServerName)
		fmt.Fprint(w, "ok")
	}))
	// The failing cases make the server log handshake errors; keep the
	// test output quiet.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := portOf(t, srv.Listener.Addr().String())
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	tests := []struct {
		name    string
		roots   *x509.CertPool
		spec    check.Spec
		wantOK  bool
		wantErr string
		wantSNI string
	}{
		{"verified by IP", pool, check.Spec{}, true, "", ""},
		{"verified by host name", pool, check.Spec{Host: "example.com"}, true, "", "example.com"},
		{"wrong host name", pool, check.Spec{Host: "www.example.net"}, false, "certificate is valid for", ""},
		{"unknown authority", nil, check.Spec{}, false, "certificate", ""},
		{"skip verify", nil, check.Spec{TLSSkipVerify: true, Host: "www.example.net"}, true, "", "www.example.net"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sni.Store("")
			spec := tc.spec
			spec.Type, spec.Port, spec.Timeout, spec.ExpectBody = check.HTTPS, port, time.Second, "ok"
			r := probeOnce(t, Options{RootCAs: tc.roots}, check.Target{Spec: spec, Address: loopback4})
			checkResult(t, r, tc.wantOK, tc.wantErr)
			if tc.wantOK && sni.Load() != tc.wantSNI {
				t.Errorf("server name seen by the server = %q, want %q", sni.Load(), tc.wantSNI)
			}
		})
	}
}

func TestProbeTimeout(t *testing.T) {
	port := hangingListener(t)
	const timeout = 150 * time.Millisecond
	tests := []struct {
		name string
		spec check.Spec
	}{
		{"http", check.Spec{Type: check.HTTP, Port: port}},
		{"https", check.Spec{Type: check.HTTPS, Port: port}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Timeout = timeout
			start := time.Now()
			r := probeOnce(t, Options{}, check.Target{Spec: spec, Address: loopback4})
			elapsed := time.Since(start)
			checkResult(t, r, false, "timed out after 150ms")
			if elapsed < timeout || elapsed > timeout+time.Second {
				t.Errorf("probe took %v, want about %v", elapsed, timeout)
			}
		})
	}
}

// dnsServer answers every query on a loopback UDP socket with the rcode
// it holds.
type dnsServer struct {
	port  int
	rcode atomic.Int32
}

func startDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	d := &dnsServer{port: pc.LocalAddr().(*net.UDPAddr).Port}
	started := make(chan struct{})
	srv := &dns.Server{
		PacketConn:        pc,
		NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			m := new(dns.Msg)
			m.SetRcode(req, int(d.rcode.Load()))
			w.WriteMsg(m)
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served:
		t.Fatalf("dns server: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("dns server did not start")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		<-served
	})
	return d
}

func TestProbeDNS(t *testing.T) {
	srv := startDNSServer(t)
	spec := check.Spec{Type: check.DNS, Port: srv.port, Query: "www.example.com. A", Timeout: time.Second}
	target := check.Target{Spec: spec, Address: loopback4}

	checkResult(t, probeOnce(t, Options{}, target), true, "")
	srv.rcode.Store(dns.RcodeServerFailure)
	checkResult(t, probeOnce(t, Options{}, target), false, "rcode SERVFAIL, want NOERROR")

	spec.ExpectRcode = []check.Rcode{check.Rcode(dns.RcodeSuccess), check.Rcode(dns.RcodeServerFailure)}
	checkResult(t, probeOnce(t, Options{}, check.Target{Spec: spec, Address: loopback4}), true, "")
}

func TestProbeDNSTimeout(t *testing.T) {
	// A UDP socket that nobody reads from never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	spec := check.Spec{Type: check.DNS, Port: pc.LocalAddr().(*net.UDPAddr).Port, Query: "example.com.", Timeout: 100 * time.Millisecond}
	start := time.Now()
	r := probeOnce(t, Options{}, check.Target{Spec: spec, Address: loopback4})
	checkResult(t, r, false, "timed out after 100ms")
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("probe took %v, want about 100ms", elapsed)
	}
}

func TestProbeExec(t *testing.T) {
	tests := []struct {
		name    string
		command []string
		timeout time.Duration
		wantOK  bool
		wantErr string
	}{
		{"true", []string{"true"}, time.Second, true, ""},
		{"false", []string{"false"}, time.Second, false, "exit status 1"},
		{"environment", []string{"/bin/sh", "-c",
			`test "$MERIDIAN_ADDRESS" = 127.0.0.1 && test "$MERIDIAN_PORT" = 8080 && test "$MERIDIAN_CHECK" = script`},
			time.Second, true, ""},
		{"output in error", []string{"/bin/sh", "-c", "echo backend unreachable >&2; exit 3"}, time.Second,
			false, "exit status 3: backend unreachable"},
		{"killed at timeout", []string{"/bin/sh", "-c", "sleep 30; sleep 30"}, 150 * time.Millisecond,
			false, "timed out after 150ms"},
		{"missing program", []string{"/nonexistent/meridian-check"}, time.Second, false, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := check.Spec{Name: "script", Type: check.Exec, Port: 8080, Command: tc.command, Timeout: tc.timeout}
			start := time.Now()
			r := probeOnce(t, Options{AllowExec: true}, check.Target{Spec: spec, Address: loopback4})
			checkResult(t, r, tc.wantOK, tc.wantErr)
			if elapsed := time.Since(start); elapsed > tc.timeout+2*time.Second {
				t.Errorf("probe took %v with timeout %v", elapsed, tc.timeout)
			}
		})
	}
}

func TestExecNotAllowed(t *testing.T) {
	m := NewManager(Options{})
	spec := check.Spec{Name: "script", Type: check.Exec, Command: []string{"true"}}
	err := m.SetTargets([]check.Target{{Spec: spec, Address: loopback4}})
	if err == nil || !strings.Contains(err.Error(), `check "script" at 127.0.0.1: exec checks are not allowed`) {
		t.Errorf("SetTargets error = %v, want exec refused naming the check", err)
	}
	if m.Status().Len() != 0 {
		t.Errorf("refused SetTargets left %d targets", m.Status().Len())
	}
	if _, err := m.Probe(context.Background(), check.Target{Spec: spec, Address: loopback4}); err == nil {
		t.Error("Probe ran an exec check without AllowExec")
	}
}
