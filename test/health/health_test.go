// Package health tests health checking end to end, in process: the real App
// built from a configuration file, probe targets on loopback addresses
// (HTTP, HTTPS, TCP and DNS listeners that a test breaks, silences or stops
// mid-test) and DNS queries over UDP whose answers must follow the health of
// the endpoints.
//
// Every endpoint answers an address from a documentation range, but its
// check_address is a loopback address where the test listens: only the
// answers carry the documentation addresses, every probe stays on this
// machine. Each test uses its own 127.0.N.0/24 block, so parallel tests never
// share a probed address.
package health

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/app"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/geo/geotest"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/zones"
)

// Every check rises and falls after two results in a row.
const (
	rise = 2
	fall = 2
)

const (
	// waitLimit bounds every wait for something the test expects.
	waitLimit = 10 * time.Second
	// pollEvery is the pause between two looks at a polled effect.
	pollEvery = 10 * time.Millisecond
	// schedulingSlack absorbs the ±10% jitter the scheduler adds to each
	// of the (up to three) intervals involved, goroutine scheduling on a
	// loaded two-core machine under -race, and the poll period.
	schedulingSlack = 150 * time.Millisecond
)

// timing is how often a check probes and how long one probe may take.
type timing struct {
	interval, timeout time.Duration
}

// fast is the timing of most test checks. Checks whose probes cost more
// CPU (TLS handshakes under -race) or whose test cannot absorb a single
// spurious timeout use slower ones.
var fast = timing{interval: 100 * time.Millisecond, timeout: 50 * time.Millisecond}

// bound is the longest a change of an endpoint's health may take to show
// in the answers. After the change, the next probe runs at most one interval
// later (the change may land just after a probe); fall (or rise) consecutive
// results are needed, one interval apart; the last of them may run for up to
// its timeout; then the manager batches the change for up to its publish
// delay before the new status is visible to queries; plus schedulingSlack.
// For fast that is 100 + 2*100 + 50 + 50 + 150 = 550ms.
func (tm timing) bound() time.Duration {
	return tm.interval + fall*tm.interval + tm.timeout + healthcheck.DefaultPublishDelay + schedulingSlack
}

// The answered addresses, all from documentation ranges. Probes never go
// there: each endpoint has a loopback check_address.
const (
	usAddr  = "192.0.2.10"
	us2Addr = "192.0.2.11"
	us3Addr = "192.0.2.12"
	euAddr  = "198.51.100.10"
	apAddr  = "203.0.113.10"
)

// The TTLs the zones use.
const (
	serviceTTL  = 30
	degradedTTL = zones.DefaultDegradedTTL
)

// zoneHeader starts every test zone: three regions placed so that from the
// US, where the test GeoIP database puts 127.0.0.0/8, eu is nearer than ap.
const zoneHeader = `zone: example.org.
soa: { mname: ns1.example.org., rname: hostmaster.example.org. }
ns: [ns1.example.org.]
records: |
  ns1 IN A 192.0.2.53
regions:
  us: { location: [39.04, -77.49], countries: [US] }
  eu: { location: [50.11, 8.68], continents: [EU] }
  ap: { location: [1.35, 103.82], continents: [AS, OC] }
`

// checkLine is one entry under checks:.
func checkLine(name, typ string, port int, tm timing, extra string) string {
	return fmt.Sprintf("  %s: { type: %s, port: %d, interval: %s, timeout: %s, rise: %d, fall: %d%s }\n",
		name, typ, port, tm.interval, tm.timeout, rise, fall, extra)
}

// threeRegions is the endpoint list of a service with one endpoint per
// region, each probed at <block>.21, .22 and .23.
func threeRegions(block string) string {
	return fmt.Sprintf(`    endpoints:
      - { region: us, address: %[2]s, check_address: %[1]s.21 }
      - { region: eu, address: %[3]s, check_address: %[1]s.22 }
      - { region: ap, address: %[4]s, check_address: %[1]s.23 }
`, block, usAddr, euAddr, apAddr)
}

// TestHTTPFailover breaks the us endpoint's HTTP check and mends it again:
// the answers move to eu (the nearer of the other regions) with the degraded
// TTL, and back with the service TTL, each within fast.bound().
func TestHTTPFailover(t *testing.T) {
	t.Parallel()
	const block = "127.0.1"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23")
	us, eu, ap := serveHTTP(t, lns[0], false), serveHTTP(t, lns[1], false), serveHTTP(t, lns[2], false)
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, ", path: /healthz") + `services:
  www:
    ttl: 30
    check: web
` + threeRegions(block) + `  short:
    ttl: 5
    check: web
` + threeRegions(block)
	h := start(t, zone, settings{})

	h.waitAllUp()
	h.expect("short", answer{addrs: []string{usAddr}, ttl: 5})
	h.measureFailover(failover{
		what:     "HTTP 500",
		service:  "www",
		bound:    fast.bound(),
		fail:     func() { us.status.Store(http.StatusInternalServerError) },
		heal:     func() { us.status.Store(http.StatusOK) },
		failover: answer{addrs: []string{euAddr}, ttl: degradedTTL},
		whileDown: func() {
			// degraded_ttl defaults to 10 but never exceeds the
			// service's TTL.
			h.expect("short", answer{addrs: []string{euAddr}, ttl: 5})
		},
	})
	for _, tgt := range []*httpTarget{eu, ap} {
		if tgt.probes.Load() == 0 {
			t.Errorf("%s was never probed", tgt.addr)
		}
	}
}

// TestCheckAddressIsProbed shows that an endpoint is answered with its
// address but probed at its check_address: each loopback listener receives
// the probes of its own endpoint, on its own address, while the answers
// carry only the documentation addresses.
func TestCheckAddressIsProbed(t *testing.T) {
	t.Parallel()
	const block = "127.0.10"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23")
	targets := []*httpTarget{serveHTTP(t, lns[0], false), serveHTTP(t, lns[1], false), serveHTTP(t, lns[2], false)}
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, ", path: /healthz") + `services:
  www:
    check: web
` + threeRegions(block)
	h := start(t, zone, settings{})

	h.waitAllUp()
	h.expect("www", answer{addrs: []string{usAddr}, ttl: serviceTTL})
	answered := []string{usAddr, euAddr, apAddr}
	for i, tgt := range targets {
		ep := h.endpoint("www", answered[i])
		if ep.CheckKey.Addr() != tgt.addr.Addr() || ep.Address.String() == tgt.addr.Addr().String() {
			t.Errorf("endpoint %s: probed at %s, want the check_address %s", ep.Key, ep.CheckKey.Addr(), tgt.addr.Addr())
		}
		waitUntil(t, fmt.Sprintf("two probes at %s", tgt.addr), func() bool { return tgt.probes.Load() >= 2 })
		for _, p := range tgt.requests() {
			if p.local != tgt.addr.String() || p.path != "/healthz" || p.agent != "meridian-healthcheck" {
				t.Errorf("listener %s got a request to %s for %s from %q, want probes of /healthz at %s",
					tgt.addr, p.local, p.path, p.agent, tgt.addr)
			}
		}
	}
}

// TestTCPFailover closes the us endpoint's listener, which fails its TCP
// check, then opens it again on the same address and port.
func TestTCPFailover(t *testing.T) {
	t.Parallel()
	const block = "127.0.2"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23")
	us := serveTCP(t, lns[0])
	serveTCP(t, lns[1])
	serveTCP(t, lns[2])
	zone := zoneHeader + "checks:\n" + checkLine("port", "tcp", port, fast, "") + `services:
  www:
    ttl: 30
    degraded_ttl: 3
    check: port
` + threeRegions(block)
	h := start(t, zone, settings{})

	h.waitAllUp()
	h.measureFailover(failover{
		what:     "TCP listener closed",
		service:  "www",
		bound:    fast.bound(),
		fail:     us.stop,
		heal:     func() { us.restart(t) },
		failover: answer{addrs: []string{euAddr}, ttl: 3},
	})
}

// TestHTTPSFailover runs the https check against TLS servers on loopback
// listeners. The App verifies with the system roots, which do not know the
// test certificate, so the check sets tls_skip_verify (verification itself
// is tested in package healthcheck).
func TestHTTPSFailover(t *testing.T) {
	t.Parallel()
	const block = "127.0.3"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23")
	us := serveHTTP(t, lns[0], true)
	serveHTTP(t, lns[1], true)
	serveHTTP(t, lns[2], true)
	// A TLS handshake under -race on a busy machine can outlast fast's
	// timeout, so this check allows more.
	tm := timing{interval: 200 * time.Millisecond, timeout: 150 * time.Millisecond}
	zone := zoneHeader + "checks:\n" + checkLine("secure", "https", port, tm, ", path: /healthz, tls_skip_verify: true") + `services:
  www:
    check: secure
` + threeRegions(block)
	h := start(t, zone, settings{})

	h.waitAllUp()
	if n, tlsN := us.probes.Load(), us.tlsProbes.Load(); n == 0 || n != tlsN {
		t.Errorf("us listener: %d probes, %d of them over TLS; want every probe over TLS", n, tlsN)
	}
	h.measureFailover(failover{
		what:     "HTTPS 503",
		service:  "www",
		bound:    tm.bound(),
		fail:     func() { us.status.Store(http.StatusServiceUnavailable) },
		heal:     func() { us.status.Store(http.StatusOK) },
		failover: answer{addrs: []string{euAddr}, ttl: degradedTTL},
	})
}

// TestDNSCheckFailover probes DNS servers that answer NOERROR until the us
// one turns to SERVFAIL. The service lists ap as its fallback, so the answers
// move to ap although eu is nearer.
func TestDNSCheckFailover(t *testing.T) {
	t.Parallel()
	const block = "127.0.4"
	port, pcs := listenUDP(t, block+".21", block+".22", block+".23")
	us := serveDNS(t, pcs[0])
	serveDNS(t, pcs[1])
	serveDNS(t, pcs[2])
	zone := zoneHeader + "checks:\n" + checkLine("resolver", "dns", port, fast, `, query: "health.example.org. A"`) + `services:
  www:
    check: resolver
    fallback: [ap]
` + threeRegions(block)
	h := start(t, zone, settings{})

	h.waitAllUp()
	if us.queries.Load() == 0 {
		t.Error("the us DNS server was never queried")
	}
	h.measureFailover(failover{
		what:     "SERVFAIL",
		service:  "www",
		bound:    fast.bound(),
		fail:     func() { us.servfail.Store(true) },
		heal:     func() { us.servfail.Store(false) },
		failover: answer{addrs: []string{apAddr}, ttl: degradedTTL},
		whileDown: func() {
			if st := h.status(h.endpoint("www", usAddr)); !strings.Contains(st.LastError, "SERVFAIL") {
				t.Errorf("us last error %q, want it to name SERVFAIL", st.LastError)
			}
		},
	})
}

// TestTimeoutTakesEndpointDown silences the us endpoint: its listener keeps
// accepting connections but never answers, so every HTTP probe runs into
// the check's timeout, and the endpoint goes down within fast.bound(), which
// counts the timeout of the last probe.
func TestTimeoutTakesEndpointDown(t *testing.T) {
	t.Parallel()
	const block = "127.0.5"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23")
	us := serveHTTP(t, lns[0], false)
	serveHTTP(t, lns[1], false)
	serveHTTP(t, lns[2], false)
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, "") + `services:
  www:
    check: web
` + threeRegions(block)
	h := start(t, zone, settings{})

	h.waitAllUp()
	h.measureFailover(failover{
		what:     "listener silenced",
		service:  "www",
		bound:    fast.bound(),
		fail:     func() { us.listener.hold.Store(true) },
		heal:     func() { us.listener.hold.Store(false) },
		failover: answer{addrs: []string{euAddr}, ttl: degradedTTL},
		whileDown: func() {
			st := h.status(h.endpoint("www", usAddr))
			if !strings.Contains(st.LastError, "timed out") {
				t.Errorf("us last error %q, want a timeout", st.LastError)
			}
			if n := us.listener.heldCount(); n < fall {
				t.Errorf("silent listener accepted %d connections, want at least the %d probes that timed out", n, fall)
			}
		},
	})
}

// failover is one measured failover of a service's us endpoint.
type failover struct {
	// what names the failure in logs.
	what    string
	service string
	// bound is the longest the failover and the recovery may each take.
	bound time.Duration
	// fail breaks the us endpoint's check; heal mends it.
	fail, heal func()
	// failover is the answer while the us endpoint is down; while it is up
	// the answer is usAddr with the service TTL.
	failover answer
	// whileDown, if set, runs once the failover answer is seen.
	whileDown func()
}

// failoverRounds is how many times measureFailover may repeat a failure and
// recovery to see both within the bound.
const failoverRounds = 3

// measureFailover breaks the us endpoint, times until the failover answer
// is seen, mends it and times until the normal answer is back, and asserts
// that both took at most f.bound. The bound is about what the health
// checker does, not about how busy the machine is, and this machine's two
// cores are shared with other test packages under -race: a round in which a
// probe or the publisher was stalled past the slack is logged and repeated,
// up to failoverRounds times. A checker that is systematically slower (an
// extra probe, a longer publish delay) fails every round.
func (h *harness) measureFailover(f failover) {
	h.t.Helper()
	normal := answer{addrs: []string{usAddr}, ttl: serviceTTL}
	h.expect(f.service, normal)
	var rounds []string
	for round := 1; round <= failoverRounds; round++ {
		f.fail()
		failed := time.Now()
		h.waitFor(f.service, f.failover)
		down := time.Since(failed)
		if f.whileDown != nil && round == 1 {
			f.whileDown()
		}
		f.heal()
		healed := time.Now()
		h.waitFor(f.service, normal)
		up := time.Since(healed)
		h.t.Logf("%s: failover answer after %s, normal answer %s after healing (bound %s each)",
			f.what, down.Round(time.Millisecond), up.Round(time.Millisecond), f.bound)
		if down <= f.bound && up <= f.bound {
			return
		}
		rounds = append(rounds, fmt.Sprintf("%s/%s", down.Round(time.Millisecond), up.Round(time.Millisecond)))
	}
	h.t.Errorf("%s: failover/recovery took %s in %d rounds, want both at most %s in at least one round",
		f.what, strings.Join(rounds, ", "), failoverRounds, f.bound)
}

// TestFlappingTargetStaysUp alternates the us endpoint's answers, success
// and failure on every other probe. With rise 2 and fall 2 it never fails
// twice in a row, so it must stay up and keep being answered throughout.
func TestFlappingTargetStaysUp(t *testing.T) {
	t.Parallel()
	const block = "127.0.6"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23")
	us := newHTTPTarget(lns[0])
	// The first probe succeeds, so the endpoint starts up; from then on
	// failures never come twice in a row.
	us.respond = func(n int64) int {
		if n%2 == 1 {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	}
	us.serve(t, false)
	serveHTTP(t, lns[1], false)
	serveHTTP(t, lns[2], false)
	// A single probe running into its timeout on a busy machine would be a
	// second failure in a row, so this check allows each probe most of a
	// long interval.
	tm := timing{interval: 500 * time.Millisecond, timeout: 450 * time.Millisecond}
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, tm, "") + `services:
  www:
    check: web
` + threeRegions(block)
	h := start(t, zone, settings{})
	ep := h.endpoint("www", usAddr)

	const probes = 10
	limit := probes*tm.interval + waitLimit
	from := us.probes.Load()
	deadline := time.Now().Add(limit)
	queries := 0
	for us.probes.Load() < from+probes {
		if time.Now().After(deadline) {
			t.Fatalf("only %d probes in %s", us.probes.Load()-from, limit)
		}
		got := h.answer("www")
		queries++
		if !got.equal(answer{addrs: []string{usAddr}, ttl: serviceTTL}) {
			t.Fatalf("answer %s while the us endpoint flaps, want %s with TTL %d", got, usAddr, serviceTTL)
		}
		time.Sleep(pollEvery)
	}
	st := h.status(ep)
	t.Logf("%d probes (every other one failing), %d queries, all answered from us", us.probes.Load(), queries)
	if st.State != healthcheck.StateUp || st.Transitions != 1 {
		t.Errorf("us endpoint is %s after %d transitions, want up after its first result only", st.State, st.Transitions)
	}
}

// TestMinHealthy takes us endpoints down one by one under a count
// (min_healthy: 2) and a percentage (min_healthy: 50% of three endpoints,
// so two).
func TestMinHealthy(t *testing.T) {
	t.Parallel()
	const block = "127.0.7"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23", block+".24")
	us1, us2 := serveHTTP(t, lns[0], false), serveHTTP(t, lns[1], false)
	serveHTTP(t, lns[2], false)
	serveHTTP(t, lns[3], false)
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, "") + fmt.Sprintf(`services:
  two:
    check: web
    select: all
    min_healthy: 2
    endpoints:
      - { region: us, address: %[2]s, check_address: %[1]s.21 }
      - { region: us, address: %[3]s, check_address: %[1]s.22 }
      - { region: eu, address: %[5]s, check_address: %[1]s.23 }
  half:
    check: web
    select: all
    min_healthy: 50%%
    endpoints:
      - { region: us, address: %[2]s, check_address: %[1]s.21 }
      - { region: us, address: %[3]s, check_address: %[1]s.22 }
      - { region: us, address: %[4]s, check_address: %[1]s.24 }
      - { region: eu, address: %[5]s, check_address: %[1]s.23 }
`, block, usAddr, us2Addr, us3Addr, euAddr)
	h := start(t, zone, settings{})

	h.waitAllUp()
	h.expect("two", answer{addrs: []string{usAddr, us2Addr}, ttl: serviceTTL})
	h.expect("half", answer{addrs: []string{usAddr, us2Addr, us3Addr}, ttl: serviceTTL})

	// One of two down: "two" loses its region; "half" keeps 2 of 3.
	us1.status.Store(http.StatusInternalServerError)
	h.waitFor("two", answer{addrs: []string{euAddr}, ttl: degradedTTL})
	h.waitFor("half", answer{addrs: []string{us2Addr, us3Addr}, ttl: serviceTTL})

	// Two of three down: below 50% of three (rounded up to two).
	us2.status.Store(http.StatusInternalServerError)
	h.waitFor("half", answer{addrs: []string{euAddr}, ttl: degradedTTL})
	h.waitFor("two", answer{addrs: []string{euAddr}, ttl: degradedTTL})
}

// TestAllDownModes takes every endpoint down and checks what each all_down
// mode answers: serve_all the preferred region with the degraded TTL, nodata
// an empty NOERROR answer with the SOA, fallback the fallback_addresses.
func TestAllDownModes(t *testing.T) {
	t.Parallel()
	const block = "127.0.8"
	port, lns := listenTCP(t, block+".21", block+".22")
	us, eu := serveHTTP(t, lns[0], false), serveHTTP(t, lns[1], false)
	endpoints := fmt.Sprintf(`    endpoints:
      - { region: us, address: %[2]s, check_address: %[1]s.21 }
      - { region: eu, address: %[3]s, check_address: %[1]s.22 }
`, block, usAddr, euAddr)
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, "") + `services:
  serveall:
    check: web
    all_down: serve_all
` + endpoints + `  nodata:
    check: web
    all_down: nodata
` + endpoints + `  fallback:
    check: web
    all_down: fallback
    fallback_addresses: [192.0.2.99]
    degraded_ttl: 7
` + endpoints
	h := start(t, zone, settings{})

	h.waitAllUp()
	for _, name := range []string{"serveall", "nodata", "fallback"} {
		h.expect(name, answer{addrs: []string{usAddr}, ttl: serviceTTL})
	}

	us.status.Store(http.StatusInternalServerError)
	eu.status.Store(http.StatusInternalServerError)
	got := h.waitFor("nodata", answer{soa: true})
	if got.rcode != dns.RcodeSuccess {
		t.Errorf("nodata: rcode %s, want NOERROR", dns.RcodeToString[got.rcode])
	}
	h.expect("serveall", answer{addrs: []string{usAddr}, ttl: degradedTTL})
	h.expect("fallback", answer{addrs: []string{"192.0.2.99"}, ttl: 7})
}

// TestAdminStateOverrides rewrites the admin_state file (temporary file and
// rename) while the App runs: a region forced down fails over, a drained
// endpoint is never answered, an endpoint forced up is answered although its
// check fails, and a file that does not parse leaves the previous overrides
// in force.
func TestAdminStateOverrides(t *testing.T) {
	t.Parallel()
	const block = "127.0.9"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23", block+".24")
	serveHTTP(t, lns[0], false)
	us2 := serveHTTP(t, lns[1], false)
	serveHTTP(t, lns[2], false)
	serveHTTP(t, lns[3], false)
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, "") + fmt.Sprintf(`services:
  www:
    check: web
    select: all
    endpoints:
      - { region: us, address: %[2]s, check_address: %[1]s.21 }
      - { region: us, address: %[3]s, check_address: %[1]s.22 }
      - { region: eu, address: %[4]s, check_address: %[1]s.23 }
      - { region: ap, address: %[5]s, check_address: %[1]s.24 }
`, block, usAddr, us2Addr, euAddr, apAddr)
	h := start(t, zone, settings{})

	h.waitAllUp()
	h.expect("www", answer{addrs: []string{usAddr, us2Addr}, ttl: serviceTTL})

	h.writeAdminState(`regions: { "example.org./us": down }`)
	h.waitFor("www", answer{addrs: []string{euAddr}, ttl: degradedTTL})

	drain := fmt.Sprintf(`endpoints: { "www.example.org./%s": drain }`, usAddr)
	h.writeAdminState(drain)
	h.waitFor("www", answer{addrs: []string{us2Addr}, ttl: serviceTTL})
	for range 50 {
		if got := h.answer("www"); slices.Contains(got.addrs, usAddr) {
			t.Fatalf("drained endpoint %s answered: %s", usAddr, got)
		}
	}

	// With the only other us endpoint failing its check the region is
	// down, until the operator forces that endpoint up.
	us2.status.Store(http.StatusInternalServerError)
	h.waitFor("www", answer{addrs: []string{euAddr}, ttl: degradedTTL})
	forced := fmt.Sprintf(`endpoints:
  "www.example.org./%s": drain
  "www.example.org./%s": up
`, usAddr, us2Addr)
	h.writeAdminState(forced)
	h.waitFor("www", answer{addrs: []string{us2Addr}, ttl: serviceTTL})
	if st := h.status(h.endpoint("www", us2Addr)); st.State != healthcheck.StateDown {
		t.Errorf("%s is %s by its check, want down (answered only because forced up)", us2Addr, st.State)
	}

	failures := h.logs.count(msgAdminStateFailed)
	h.writeAdminState("endpoints: [this is not\n")
	h.logs.waitCount(t, msgAdminStateFailed, failures+1)
	for range 20 {
		h.expect("www", answer{addrs: []string{us2Addr}, ttl: serviceTTL})
	}
	if n := len(h.app.Health.Overrides().Endpoints()); n != 2 {
		t.Errorf("%d endpoint overrides in force after a bad file, want the previous 2", n)
	}
}

// TestDrainedEndpointNotServedWhenAllDown drains one us endpoint and then
// fails every check: serve_all answers the preferred region as if it were
// healthy, but still leaves the drained endpoint out.
func TestDrainedEndpointNotServedWhenAllDown(t *testing.T) {
	t.Parallel()
	const block = "127.0.15"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23")
	targets := []*httpTarget{serveHTTP(t, lns[0], false), serveHTTP(t, lns[1], false), serveHTTP(t, lns[2], false)}
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, "") + fmt.Sprintf(`services:
  www:
    check: web
    select: all
    all_down: serve_all
    endpoints:
      - { region: us, address: %[2]s, check_address: %[1]s.21 }
      - { region: us, address: %[3]s, check_address: %[1]s.22 }
      - { region: eu, address: %[4]s, check_address: %[1]s.23 }
`, block, usAddr, us2Addr, euAddr)
	h := start(t, zone, settings{})

	h.waitAllUp()
	h.writeAdminState(fmt.Sprintf(`endpoints: { "www.example.org./%s": drain }`, usAddr))
	h.waitFor("www", answer{addrs: []string{us2Addr}, ttl: serviceTTL})
	for _, tgt := range targets {
		tgt.status.Store(http.StatusInternalServerError)
	}
	waitUntil(t, "every target down", func() bool {
		for _, st := range h.app.Checker.Status().All() {
			if st.State != healthcheck.StateDown {
				return false
			}
		}
		return true
	})
	for range 20 {
		h.expect("www", answer{addrs: []string{us2Addr}, ttl: degradedTTL})
	}
}

// TestProbeDedup has three services whose endpoints share one check
// address, two of them through the same check and one through an identical
// check under another name: the listener must see one probe per interval,
// not one per service.
func TestProbeDedup(t *testing.T) {
	t.Parallel()
	const block = "127.0.11"
	port, lns := listenTCP(t, block+".21")
	tgt := serveHTTP(t, lns[0], false)
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, "") + checkLine("web-copy", "http", port, fast, "") +
		fmt.Sprintf(`services:
  www:
    check: web
    endpoints: [{ region: us, address: 192.0.2.10, check_address: %[1]s.21 }]
  api:
    check: web
    endpoints: [{ region: us, address: 192.0.2.20, check_address: %[1]s.21 }]
  api2:
    check: web-copy
    endpoints: [{ region: us, address: 192.0.2.30, check_address: %[1]s.21 }]
`, block)
	h := start(t, zone, settings{})

	if n := h.app.Checker.Status().Len(); n != 1 {
		t.Errorf("checker probes %d targets, want 1", n)
	}
	from := len(tgt.requests())
	const gaps = 20
	waitUntil(t, fmt.Sprintf("%d more probes", gaps+1), func() bool { return len(tgt.requests()) > from+gaps })
	seen := tgt.requests()[from : from+gaps+1]
	mean := seen[gaps].at.Sub(seen[0].at) / gaps
	t.Logf("mean gap between probes %s over %d gaps (interval %s)", mean, gaps, fast.interval)
	// One probe loop gives gaps of interval ±10% (a stalled probe makes
	// its gap longer and the next one shorter); a loop per service would
	// halve or third them.
	if mean < fast.interval*7/10 {
		t.Errorf("mean gap between probes %s, want about %s: the shared target is probed more than once per interval", mean, fast.interval)
	}
	for _, name := range []string{"www", "api", "api2"} {
		if got := h.answer(name); len(got.addrs) != 1 {
			t.Errorf("%s: answer %s, want one address", name, got)
		}
	}
}

// TestSelectFastest gives the first us endpoint a slow health endpoint:
// once latencies are measured, select fastest answers the quick one (file
// order would pick the slow one).
func TestSelectFastest(t *testing.T) {
	t.Parallel()
	const block = "127.0.12"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23")
	slow := newHTTPTarget(lns[0])
	// The gap between the two must stand well above the scheduling noise
	// that a loaded machine adds to the quick one's smoothed latency.
	slow.delay = 60 * time.Millisecond
	slow.serve(t, false)
	serveHTTP(t, lns[1], false)
	serveHTTP(t, lns[2], false)
	zone := zoneHeader + "checks:\n" +
		checkLine("web", "http", port, timing{interval: 200 * time.Millisecond, timeout: 150 * time.Millisecond}, "") +
		fmt.Sprintf(`services:
  www:
    check: web
    select: fastest
    endpoints:
      - { region: us, address: %[2]s, check_address: %[1]s.21 }
      - { region: us, address: %[3]s, check_address: %[1]s.22 }
      - { region: eu, address: %[4]s, check_address: %[1]s.23 }
`, block, usAddr, us2Addr, euAddr)
	h := start(t, zone, settings{})
	slowEp, quickEp := h.endpoint("www", usAddr), h.endpoint("www", us2Addr)
	waitUntil(t, "latencies measured", func() bool {
		s, q := h.status(slowEp), h.status(quickEp)
		return q.Latency > 0 && s.Latency > q.Latency
	})
	t.Logf("smoothed latency: slow %s, quick %s", h.status(slowEp).Latency, h.status(quickEp).Latency)
	for range 20 {
		h.expect("www", answer{addrs: []string{us2Addr}, ttl: serviceTTL})
	}
}

// TestSelectLeastLoaded has two us endpoints reporting load 0.9 and 0.1 in
// X-Load: select least_loaded answers the lightly loaded one about nine
// times in ten.
func TestSelectLeastLoaded(t *testing.T) {
	t.Parallel()
	const block = "127.0.14"
	port, lns := listenTCP(t, block+".21", block+".22", block+".23")
	busy, idle := newHTTPTarget(lns[0]), newHTTPTarget(lns[1])
	busy.load, idle.load = "0.9", "0.1"
	busy.serve(t, false)
	idle.serve(t, false)
	serveHTTP(t, lns[2], false)
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, ", load_header: X-Load") + fmt.Sprintf(`services:
  www:
    check: web
    select: least_loaded
    endpoints:
      - { region: us, address: %[2]s, check_address: %[1]s.21 }
      - { region: us, address: %[3]s, check_address: %[1]s.22 }
      - { region: eu, address: %[4]s, check_address: %[1]s.23 }
`, block, usAddr, us2Addr, euAddr)
	h := start(t, zone, settings{})
	busyEp, idleEp := h.endpoint("www", usAddr), h.endpoint("www", us2Addr)
	waitUntil(t, "loads reported", func() bool {
		return h.status(busyEp).Load == 0.9 && h.status(idleEp).Load == 0.1
	})

	const queries = 400
	counts := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < queries; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d queries answered in 20s", i)
		}
		got := h.answer("www")
		if len(got.addrs) != 1 {
			t.Fatalf("answer %s, want one address", got)
		}
		counts[got.addrs[0]]++
	}
	share := float64(counts[us2Addr]) / queries
	t.Logf("%d queries: load 0.1 answered %d, load 0.9 answered %d (%.0f%% to the idle one)", queries, counts[us2Addr], counts[usAddr], 100*share)
	if share <= 0.7 {
		t.Errorf("the endpoint at load 0.1 got %.0f%% of answers, want more than 70%%", 100*share)
	}
	if counts[usAddr]+counts[us2Addr] != queries {
		t.Errorf("answers outside us: %v", counts)
	}
}

// TestStartupWaitsForFirstProbeRound starts the App while nothing listens
// at the us endpoint's check address. The DNS listener must come up only
// after every target has a first result, well before the startup grace,
// and the very first query must already fail over.
func TestStartupWaitsForFirstProbeRound(t *testing.T) {
	t.Parallel()
	const block = "127.0.13"
	// Nothing listens at .21: its probes are refused.
	port, lns := listenTCP(t, block+".22", block+".23")
	serveHTTP(t, lns[0], false)
	serveHTTP(t, lns[1], false)
	// The first result decides a target's state, and the first query is
	// asserted on: give the eu and ap probes room so that none of them
	// starts down by timing out.
	tm := timing{interval: 2 * time.Second, timeout: 1500 * time.Millisecond}
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, tm, "") + `services:
  www:
    check: web
` + threeRegions(block)
	const grace = 10 * time.Second
	began := time.Now()
	h := start(t, zone, settings{startupGrace: grace})
	upAfter := time.Since(began)

	// eu is the nearest region after us; ap would do as well should a
	// slow first probe have put eu down: the point is that us is not
	// answered.
	got := h.answer("www")
	if slices.Contains(got.addrs, usAddr) || len(got.addrs) != 1 || got.ttl != degradedTTL {
		t.Errorf("first query answered %s, want a failover answer (%s or %s) with TTL %d", got, euAddr, apAddr, degradedTTL)
	}
	t.Logf("listener up %s after Run started (startup grace %s)", upAfter, grace)
	if upAfter >= grace/2 {
		t.Errorf("listener up after %s: it waited for the startup grace, not for the first probe round", upAfter)
	}
	st := h.statusAtStart
	if st.Len() != 3 {
		t.Fatalf("%d targets when the listener came up, want 3", st.Len())
	}
	for k, s := range st.All() {
		if s.State == healthcheck.StateUnknown || s.LastProbe.IsZero() {
			t.Errorf("%s was %s with no probe result when the listener came up", k, s.State)
		}
	}
	if s, _ := st.Get(h.endpoint("www", usAddr).CheckKey); s.State != healthcheck.StateDown {
		t.Errorf("us target was %s when the listener came up, want down", s.State)
	}
}

// harness is one running App and what the test sees of it.
type harness struct {
	t    *testing.T
	app  *app.App
	dns  string
	logs *logRecorder
	// adminState is the path of the admin_state file.
	adminState string
	// statusAtStart is the checker's status when the App logged that it
	// had started, right after its listeners came up.
	statusAtStart *healthcheck.StatusMap
}

// settings are the configuration keys a test may change.
type settings struct {
	startupGrace time.Duration
}

// The App's log messages the tests wait for.
const (
	msgStarted          = "meridian started"
	msgAdminStateFailed = "admin_state reload failed; keeping the previous overrides"
)

// start writes zone and a configuration into a temporary directory, builds
// the App from them and runs it until the test ends. It returns once the
// App has logged that it started, that is once its listeners are up.
func start(t *testing.T, zone string, s settings) *harness {
	t.Helper()
	dir := t.TempDir()
	zonesDir := filepath.Join(dir, "zones")
	adminDir := filepath.Join(dir, "admin")
	for _, d := range []string{zonesDir, adminDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(zonesDir, "example.org.yaml"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	mmdb := geotest.WriteMMDB(t, []mmdbbuild.Entry{{
		Network: netip.MustParsePrefix("127.0.0.0/8"), Country: "US", Continent: "NA",
		Latitude: 39.04, Longitude: -77.49, HasCoordinates: true,
	}})
	grace := s.startupGrace
	if grace == 0 {
		grace = waitLimit
	}
	h := &harness{t: t, adminState: filepath.Join(adminDir, "admin_state.yaml"), logs: newLogRecorder()}
	cfgPath := filepath.Join(dir, "meridian.yaml")
	cfgText := fmt.Sprintf(`listen: ["127.0.0.1:0"]
zones: %q
geoip:
  city: %q
admin_state: %q
startup_grace: %s
http:
  listen: 127.0.0.1:0
log:
  level: info
# The tests ask one name hundreds of times a second from loopback to
# measure answer shares: rate limiting (on by default) would slip them.
rrl:
  responses_per_second: 0
`, zonesDir, mmdb, h.adminState, grace)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(h.logs), "health-test")
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	h.app = a
	started := make(chan struct{})
	// The hook runs in Run's goroutine right after the listeners start;
	// closing started publishes statusAtStart and Server.Addrs to the test.
	h.logs.onMessage(msgStarted, func() {
		h.statusAtStart = a.Checker.Status()
		close(started)
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("App log:\n%s", h.logs.text())
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{}) // closed once Run has returned runErr
	go func() {
		defer close(done)
		runErr = a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil {
				t.Errorf("Run: %v", runErr)
			}
		case <-time.After(waitLimit):
			t.Errorf("Run did not return within %s of cancelling", waitLimit)
		}
	})
	select {
	case <-started:
	case <-done:
		t.Fatalf("Run returned before starting: %v", runErr)
	case <-time.After(grace + waitLimit):
		t.Fatalf("App did not start within %s", grace+waitLimit)
	}
	addrs := a.Server.Addrs()
	if len(addrs) != 1 || !addrs[0].Addr().IsLoopback() {
		t.Fatalf("listening on %v, want one loopback address", addrs)
	}
	h.dns = addrs[0].String()
	return h
}

// answer is what a test compares in a reply: the rcode, the A addresses
// (sorted), their TTL, and whether the authority section holds the SOA.
type answer struct {
	rcode int
	addrs []string
	ttl   uint32
	soa   bool
}

func (a answer) equal(b answer) bool {
	return a.rcode == b.rcode && slices.Equal(a.addrs, b.addrs) && a.ttl == b.ttl && a.soa == b.soa
}

func (a answer) String() string {
	s := fmt.Sprintf("%s %v ttl %d", dns.RcodeToString[a.rcode], a.addrs, a.ttl)
	if a.soa {
		s += " with SOA"
	}
	return s
}

// answer asks the App for the A records of name in example.org.
func (h *harness) answer(name string) answer {
	h.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name+".example.org.", dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	// UDP gives no delivery guarantee and a stalled machine can delay a
	// reply past the timeout, so a query is tried three times, as a
	// resolver would.
	var r *dns.Msg
	var err error
	for range 3 {
		if r, _, err = c.Exchange(m, h.dns); err == nil {
			break
		}
	}
	if err != nil {
		h.t.Fatalf("query %s: %v", name, err)
	}
	got := answer{rcode: r.Rcode}
	for i, rr := range r.Answer {
		a, ok := rr.(*dns.A)
		if !ok {
			h.t.Fatalf("query %s: unexpected record %s", name, rr)
		}
		if i > 0 && rr.Header().Ttl != got.ttl {
			h.t.Fatalf("query %s: records with different TTLs: %v", name, r.Answer)
		}
		got.ttl = rr.Header().Ttl
		got.addrs = append(got.addrs, a.A.String())
	}
	slices.Sort(got.addrs)
	for _, rr := range r.Ns {
		if rr.Header().Rrtype == dns.TypeSOA {
			got.soa = true
		}
	}
	return got
}

// expect fails the test unless name is answered want now.
func (h *harness) expect(name string, want answer) {
	h.t.Helper()
	slices.Sort(want.addrs)
	if got := h.answer(name); !got.equal(want) {
		h.t.Fatalf("%s: answered %s, want %s", name, got, want)
	}
}

// waitFor polls until name is answered want, failing after waitLimit.
func (h *harness) waitFor(name string, want answer) answer {
	h.t.Helper()
	slices.Sort(want.addrs)
	return h.poll(name, want.String(), want.equal)
}

// waitAddrs polls until name is answered exactly addrs, with any TTL.
func (h *harness) waitAddrs(name string, addrs ...string) answer {
	h.t.Helper()
	slices.Sort(addrs)
	return h.poll(name, fmt.Sprint(addrs), func(a answer) bool { return slices.Equal(a.addrs, addrs) })
}

func (h *harness) poll(name, want string, ok func(answer) bool) answer {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := h.answer(name)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: still answered %s after %s, want %s", name, got, waitLimit, want)
		}
		time.Sleep(pollEvery)
	}
}

// endpoint returns the endpoint of service name (in example.org.) that
// answers addr.
func (h *harness) endpoint(name, addr string) *zones.Endpoint {
	h.t.Helper()
	z := h.app.Zones.Current().Zone("example.org.")
	svc := z.Service(name + ".example.org.")
	if svc == nil {
		h.t.Fatalf("no service %s", name)
	}
	for _, ep := range svc.Endpoints {
		if ep.Ident == addr {
			return ep
		}
	}
	h.t.Fatalf("service %s has no endpoint %s", name, addr)
	return nil
}

// status returns the checker's published status of ep's target.
func (h *harness) status(ep *zones.Endpoint) healthcheck.EndpointStatus {
	h.t.Helper()
	st, ok := h.app.Checker.Status().Get(ep.CheckKey)
	if !ok {
		h.t.Fatalf("no status for %s", ep.CheckKey)
	}
	return st
}

// writeAdminState replaces the admin_state file as deploy tools do: a
// temporary file beside it, renamed into place.
func (h *harness) writeAdminState(text string) {
	h.t.Helper()
	tmp := filepath.Join(filepath.Dir(h.adminState), ".admin_state.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, h.adminState); err != nil {
		h.t.Fatal(err)
	}
}

// waitAllUp waits until every probed target is up: a probe that timed out
// on a busy machine while the App started leaves its target down until rise
// successes, and a test must not start measuring before that has passed.
func (h *harness) waitAllUp() {
	h.t.Helper()
	waitUntil(h.t, "every target up", func() bool {
		for _, st := range h.app.Checker.Status().All() {
			if st.State != healthcheck.StateUp {
				return false
			}
		}
		return true
	})
}

// waitUntil polls cond until it holds, failing after waitLimit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, waitLimit)
		}
		time.Sleep(pollEvery)
	}
}

// logRecorder is an slog.Handler that keeps the App's log for failure
// reports, counts messages so tests can wait for one, and runs hooks on
// given messages in the logging goroutine.
type logRecorder struct {
	buf   *lockedBuffer
	inner slog.Handler
	state *logState
}

type logState struct {
	mu      sync.Mutex
	counts  map[string]int
	changed chan struct{} // closed and replaced on every record
	hooks   map[string]func()
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func newLogRecorder() *logRecorder {
	buf := &lockedBuffer{}
	return &logRecorder{
		buf:   buf,
		inner: slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}),
		state: &logState{counts: map[string]int{}, changed: make(chan struct{}), hooks: map[string]func(){}},
	}
}

func (l *logRecorder) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo
}

func (l *logRecorder) Handle(ctx context.Context, r slog.Record) error {
	err := l.inner.Handle(ctx, r)
	s := l.state
	s.mu.Lock()
	s.counts[r.Message]++
	close(s.changed)
	s.changed = make(chan struct{})
	hook := s.hooks[r.Message]
	delete(s.hooks, r.Message)
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return err
}

func (l *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logRecorder{buf: l.buf, inner: l.inner.WithAttrs(attrs), state: l.state}
}

func (l *logRecorder) WithGroup(name string) slog.Handler {
	return &logRecorder{buf: l.buf, inner: l.inner.WithGroup(name), state: l.state}
}

// onMessage runs f once, the first time msg is logged.
func (l *logRecorder) onMessage(msg string, f func()) {
	l.state.mu.Lock()
	defer l.state.mu.Unlock()
	l.state.hooks[msg] = f
}

// count returns how often msg has been logged.
func (l *logRecorder) count(msg string) int {
	l.state.mu.Lock()
	defer l.state.mu.Unlock()
	return l.state.counts[msg]
}

// waitCount waits until msg has been logged n times, failing after
// waitLimit.
func (l *logRecorder) waitCount(t *testing.T, msg string, n int) {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		l.state.mu.Lock()
		got, changed := l.state.counts[msg], l.state.changed
		l.state.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("%q logged %d times within %s, want %d", msg, got, waitLimit, n)
		}
	}
}

func (l *logRecorder) text() string {
	l.buf.mu.Lock()
	defer l.buf.mu.Unlock()
	return l.buf.buf.String()
}

// listenTCP opens TCP listeners on one port shared by every address: the
// port the kernel picks for the first, then the same on the others, trying
// another port when one is taken.
func listenTCP(t *testing.T, addrs ...string) (int, []net.Listener) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", addrs[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, a := range addrs[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, fmt.Sprint(port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(addrs) {
			return port, lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatalf("no TCP port free on all of %v", addrs)
	return 0, nil
}

// listenUDP is listenTCP for UDP sockets.
func listenUDP(t *testing.T, addrs ...string) (int, []net.PacketConn) {
	t.Helper()
	for range 20 {
		first, err := net.ListenPacket("udp", addrs[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.LocalAddr().(*net.UDPAddr).Port
		pcs := []net.PacketConn{first}
		for _, a := range addrs[1:] {
			pc, err := net.ListenPacket("udp", net.JoinHostPort(a, fmt.Sprint(port)))
			if err != nil {
				break
			}
			pcs = append(pcs, pc)
		}
		if len(pcs) == len(addrs) {
			return port, pcs
		}
		for _, pc := range pcs {
			pc.Close()
		}
	}
	t.Fatalf("no UDP port free on all of %v", addrs)
	return 0, nil
}

// httpTarget is an HTTP or HTTPS server standing in for an endpoint's
// health check. Tests change how it answers while the App probes it.
type httpTarget struct {
	addr     netip.AddrPort
	listener *holdListener
	// status is the code answered, 200 at first.
	status atomic.Int32
	// respond, when set before serve, chooses the code for the nth request
	// instead.
	respond func(n int64) int
	// delay is added before every response.
	delay time.Duration
	// load, when set, is sent as X-Load.
	load      string
	probes    atomic.Int64
	tlsProbes atomic.Int64

	mu   sync.Mutex
	seen []request
}

// request is one request a target received.
type request struct {
	at    time.Time
	local string
	path  string
	agent string
}

func newHTTPTarget(ln net.Listener) *httpTarget {
	tgt := &httpTarget{
		addr:     ln.Addr().(*net.TCPAddr).AddrPort(),
		listener: &holdListener{Listener: ln},
	}
	tgt.status.Store(http.StatusOK)
	return tgt
}

// serveHTTP serves a target answering 200 on ln until the test ends.
func serveHTTP(t *testing.T, ln net.Listener, useTLS bool) *httpTarget {
	tgt := newHTTPTarget(ln)
	tgt.serve(t, useTLS)
	return tgt
}

func (tgt *httpTarget) serve(t *testing.T, useTLS bool) {
	if useTLS {
		ts := httptest.NewUnstartedServer(tgt)
		ts.Listener.Close()
		ts.Listener = tgt.listener
		ts.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert(t)}}
		ts.Config.ErrorLog = log.New(io.Discard, "", 0)
		ts.StartTLS()
		t.Cleanup(ts.Close)
		return
	}
	srv := &http.Server{Handler: tgt, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(tgt.listener)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}

// requests returns a copy of the requests received so far.
func (tgt *httpTarget) requests() []request {
	tgt.mu.Lock()
	defer tgt.mu.Unlock()
	return slices.Clone(tgt.seen)
}

func (tgt *httpTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := tgt.probes.Add(1)
	if r.TLS != nil {
		tgt.tlsProbes.Add(1)
	}
	local := ""
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		local = a.String()
	}
	tgt.mu.Lock()
	tgt.seen = append(tgt.seen, request{at: time.Now(), local: local, path: r.URL.Path, agent: r.UserAgent()})
	tgt.mu.Unlock()
	if tgt.delay > 0 {
		select {
		case <-time.After(tgt.delay):
		case <-r.Context().Done():
		}
	}
	if tgt.load != "" {
		w.Header().Set("X-Load", tgt.load)
	}
	code := int(tgt.status.Load())
	if tgt.respond != nil {
		code = tgt.respond(n)
	}
	w.WriteHeader(code)
}

// holdListener passes connections to its server, except while hold is set:
// then it accepts them and keeps them open without ever answering.
type holdListener struct {
	net.Listener
	hold   atomic.Bool
	mu     sync.Mutex
	held   []net.Conn
	closed bool
}

func (l *holdListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.hold.Load() {
			return c, err
		}
		l.mu.Lock()
		if l.closed {
			c.Close()
		} else {
			l.held = append(l.held, c)
		}
		l.mu.Unlock()
	}
}

// Close closes the listener and the connections it held.
func (l *holdListener) Close() error {
	l.mu.Lock()
	l.closed = true
	for _, c := range l.held {
		c.Close()
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

func (l *holdListener) heldCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held)
}

// serverCert returns a self-signed ECDSA certificate for the HTTPS targets.
// httptest's own certificate has an RSA key, whose handshakes under -race
// cost enough CPU on a two-core machine to make other tests' probes time out.
func serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "meridian health test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tcpTarget accepts TCP connections and closes them at once, which is all a
// tcp check asks for. A test can stop it and open it again on the same
// address and port.
type tcpTarget struct {
	addr string
	ln   net.Listener
	done chan struct{}
}

func serveTCP(t *testing.T, ln net.Listener) *tcpTarget {
	tgt := &tcpTarget{addr: ln.Addr().String()}
	tgt.run(ln)
	t.Cleanup(tgt.stop)
	return tgt
}

func (tgt *tcpTarget) run(ln net.Listener) {
	tgt.ln = ln
	tgt.done = make(chan struct{})
	go func() {
		defer close(tgt.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// stop closes the listener and waits for its accept loop to end.
func (tgt *tcpTarget) stop() {
	if tgt.ln == nil {
		return
	}
	tgt.ln.Close()
	<-tgt.done
	tgt.ln = nil
}

// restart listens again on the same address and port, retrying for a
// bounded time while the port is still busy.
func (tgt *tcpTarget) restart(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ln, err := net.Listen("tcp", tgt.addr)
		if err == nil {
			tgt.run(ln)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cannot listen on %s again: %v", tgt.addr, err)
		}
		time.Sleep(pollEvery)
	}
}

// dnsTarget is a DNS server answering every question NOERROR, or SERVFAIL
// while servfail is set.
type dnsTarget struct {
	servfail atomic.Bool
	queries  atomic.Int64
}

func serveDNS(t *testing.T, pc net.PacketConn) *dnsTarget {
	t.Helper()
	tgt := &dnsTarget{}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: tgt, NotifyStartedFunc: func() { close(started) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ActivateAndServe()
	}()
	select {
	case <-started:
	case <-done:
		t.Fatalf("DNS server on %s stopped before starting", pc.LocalAddr())
	case <-time.After(waitLimit):
		t.Fatalf("DNS server on %s did not start", pc.LocalAddr())
	}
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	return tgt
}

func (tgt *dnsTarget) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	tgt.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(r)
	if tgt.servfail.Load() {
		m.Rcode = dns.RcodeServerFailure
	}
	w.WriteMsg(m)
}

// TestDrainedRegionNotServedWhenAllDown: with every endpoint failing and
// the preferred region drained by the operator, serve_all answers from the
// next region in the failover order rather than from the drained one.
func TestDrainedRegionNotServedWhenAllDown(t *testing.T) {
	t.Parallel()
	const block = "127.0.16"
	port, lns := listenTCP(t, block+".21", block+".22")
	targets := []*httpTarget{serveHTTP(t, lns[0], false), serveHTTP(t, lns[1], false)}
	zone := zoneHeader + "checks:\n" + checkLine("web", "http", port, fast, "") + fmt.Sprintf(`services:
  www:
    check: web
    all_down: serve_all
    endpoints:
      - { region: us, address: %[2]s, check_address: %[1]s.21 }
      - { region: eu, address: %[3]s, check_address: %[1]s.22 }
`, block, usAddr, euAddr)
	h := start(t, zone, settings{})
	h.waitAllUp()
	h.writeAdminState(`regions: { "example.org./us": drain }`)
	h.waitFor("www", answer{addrs: []string{euAddr}, ttl: degradedTTL})
	for _, tgt := range targets {
		tgt.status.Store(http.StatusInternalServerError)
	}
	waitUntil(t, "every target down", func() bool {
		for _, st := range h.app.Checker.Status().All() {
			if st.State != healthcheck.StateDown {
				return false
			}
		}
		return true
	})
	for range 20 {
		h.expect("www", answer{addrs: []string{euAddr}, ttl: degradedTTL})
	}
}
