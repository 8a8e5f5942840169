// Command soak runs Meridian under sustained DNS load while its inputs
// change underneath it, and fails when the server loses a query, answers
// SERVFAIL, logs an error, dies, leaks memory or does not stop cleanly.
// `make soak` runs it:
//
//	go run ./bench/soak -duration 5m -out soak.json
//
// It starts a meridian binary on 127.0.0.1 with a zone of static records and
// two geo-routed services, drives it with dnsperf from the query mix in
// bench/queries/soak.txt, and for the whole run rewrites the zone every
// second, flaps the api service's health-check targets (loopback HTTP
// listeners on 127.0.0.41-44 that it runs) and replaces the GeoIP database
// every ten seconds. All traffic stays on the loopback interface. See
// docs/reliability.md for the pass criteria and recorded results.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-dns/meridian/bench/dnsperfinput"
)

func main() {
	os.Exit(run())
}

// settle is how long the soak waits after the load for the last reloads to
// be logged before it reads the server's metrics and stops it.
const settle = time.Second

func run() int {
	duration := flag.Duration("duration", 60*time.Second, "how long to send queries")
	qps := flag.Int("qps", 10000, "queries per second dnsperf sends (-Q)")
	binary := flag.String("binary", "", "meridian binary to soak (default: build ./cmd/meridian into the temporary directory)")
	out := flag.String("out", "", "write the report as JSON to this file")
	spec := flag.String("queries", "", "query mix (default bench/queries/soak.txt in the repository)")
	writeQueries := flag.String("write-queries", "", "only convert the query mix into a dnsperf -B input file at this path, then exit")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "soak: unexpected arguments %q\n", flag.Args())
		return 2
	}

	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	if *spec == "" {
		*spec = filepath.Join(root, "bench", "queries", "soak.txt")
	}
	if *writeQueries != "" {
		n, err := dnsperfinput.WriteFile(*spec, *writeQueries)
		if err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			return 1
		}
		fmt.Printf("wrote %s: %d queries from %s\n", *writeQueries, n, *spec)
		return 0
	}
	if *duration < minDuration {
		fmt.Fprintf(os.Stderr, "soak: -duration must be at least %s (the memory check compares the 20%% after a %s warm-up with the last 20%%)\n", minDuration, warmup)
		return 2
	}
	if *qps <= 0 {
		fmt.Fprintln(os.Stderr, "soak: -qps must be positive")
		return 2
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		fmt.Fprintln(os.Stderr, "soak: dnsperf is not on PATH; install it with: apt-get install dnsperf")
		return 2
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		fmt.Fprintln(os.Stderr, "soak: /proc/self/status is unreadable; the soak samples memory from /proc and needs Linux")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := soak(ctx, options{root: root, binary: *binary, spec: *spec, duration: *duration, qps: *qps})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		if rep == nil {
			return 1
		}
	}
	rep.print(os.Stdout)
	if *out != "" {
		if err := rep.writeJSON(*out); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			return 1
		}
	}
	if !rep.Passed {
		return 1
	}
	return 0
}

// options are the soak's settings.
type options struct {
	root, binary, spec string
	duration           time.Duration
	qps                int
}

// soak runs one soak. It returns a nil report only when it could not start
// the load; any later problem is a failure listed in the report.
func soak(ctx context.Context, o options) (rep *Report, err error) {
	dir, err := os.MkdirTemp("", "meridian-soak-")
	if err != nil {
		return nil, err
	}
	keep := true
	defer func() {
		if keep {
			if rep != nil {
				rep.KeptTempDir = dir
			} else {
				fmt.Fprintf(os.Stderr, "soak: files kept in %s\n", dir)
			}
			return
		}
		os.RemoveAll(dir)
	}()
	l := newLayout(dir)

	bin := o.binary
	if bin == "" {
		fmt.Fprintln(os.Stderr, "soak: building ./cmd/meridian")
		if bin, err = buildMeridian(o.root, dir); err != nil {
			return nil, err
		}
	} else if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	targets, err := startHealthTargets(checkAddrs)
	if err != nil {
		return nil, err
	}
	defer targets.closeAll()
	if err := writeConfig(l, o.root, targets.port, checkAddrs); err != nil {
		return nil, fmt.Errorf("writing the configuration: %w", err)
	}
	nq, err := dnsperfinput.WriteFile(o.spec, l.Queries)
	if err != nil {
		return nil, err
	}
	m, err := startMeridian(bin, l.Config, l.Log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if m.alive() {
			m.kill()
		}
	}()
	fmt.Fprintf(os.Stderr, "soak: meridian pid %d serving DNS on %s, admin on %s; %d queries in the mix; %s at %d QPS\n",
		m.cmd.Process.Pid, m.DNS, m.Admin, nq, o.duration, o.qps)

	rep = &Report{
		Date:     time.Now().Format("2006-01-02"),
		Command:  strings.Join(append([]string{"go run ./bench/soak"}, os.Args[1:]...), " "),
		Binary:   bin,
		Duration: o.duration.String(),
		QPS:      o.qps,
		Queries:  nq,
	}

	// Everything that runs alongside dnsperf is bounded by the run's length
	// plus a margin, even if dnsperf were to hang.
	rep.LoadAvgStart = loadAvg()
	start := time.Now()
	bound, cancelBound := context.WithTimeout(ctx, o.duration+30*time.Second)
	defer cancelBound()
	var ch churn
	churnCtx, stopChurn := context.WithCancel(bound)
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		ch.run(churnCtx, l, targets, checkAddrs)
	}()
	rssCtx, stopRSS := context.WithCancel(bound)
	rssDone := make(chan []rssSample, 1)
	go func() { rssDone <- m.sampleRSS(rssCtx, start) }()

	res, perfErr := runDnsperf(bound, m.DNS, l.Queries, o.duration, o.qps, start)
	stopChurn()
	<-churnDone
	stopRSS()
	samples := <-rssDone
	loadTime := time.Since(start)
	rep.LoadAvgEnd = loadAvg()

	select {
	case <-time.After(settle):
	case <-ctx.Done():
	}
	if perfErr != nil {
		rep.fail("%v", perfErr)
	}
	if res != nil {
		rep.setDnsperf(res)
	}
	if err := ch.err(); err != nil {
		rep.fail("changing the server's inputs: %v", err)
	}
	rep.ZoneRewrites = ch.zoneRewrites.Load()
	rep.HealthFlaps = ch.healthFlaps.Load()
	rep.GeoIPReplacements = ch.geoipReplacements.Load()

	if m.alive() {
		if metrics, err := scrapeMetrics(m.Admin); err != nil {
			rep.fail("reading meridian's metrics: %v", err)
		} else {
			rep.setMetrics(metrics)
		}
	}
	took, stopErr := m.stop()
	rep.StopSeconds = took.Seconds()
	rep.ExitedCleanly = stopErr == nil
	if stopErr != nil {
		rep.fail("%v", stopErr)
	}
	logs := m.counts()
	rep.ZoneReloadsObserved = logs.ZoneReloads
	rep.GeoIPReloadsObserved = logs.GeoIPReloads
	rep.ErrorLines = logs.ErrorLines
	rep.WarnLines = logs.WarnLines
	rep.ErrorSamples = logs.ErrorSamples
	rep.WarnSamples = logs.WarnSamples
	rep.HealthChanges = logs.HealthChanges

	w := rep.setRSS(samples, min(o.duration, loadTime))
	rep.judge(w, ctx.Err())
	keep = !rep.Passed
	return rep, nil
}

// setDnsperf copies dnsperf's figures into the report.
func (r *Report) setDnsperf(res *dnsperfResult) {
	r.QueriesSent = res.Sent
	r.QueriesAnswered = res.Completed
	r.QueriesLost = res.Lost
	r.Interrupted = res.Interrupted
	r.UnexpectedIDs = res.Unexpected
	r.ResponsesParsed = res.Responses
	r.QPSAchieved = res.QPS
	r.RunTimeSeconds = res.RunTime
	r.Rcodes = res.Rcodes
	r.ServFail = res.Rcodes["SERVFAIL"]
	r.LatencyP50Millis, r.LatencyP99Millis, r.LatencyMaxMillis = res.latencyPercentiles()
	for _, s := range res.Slowest {
		r.Slowest = append(r.Slowest, fmt.Sprintf("%.3f ms at %.1fs", float64(s.Latency)/1e6, s.At.Seconds()))
	}
	if res.Timeouts > r.QueriesLost {
		r.QueriesLost = res.Timeouts
	}
}

// setMetrics takes the server's own counts from its /metrics.
func (r *Report) setMetrics(m map[string]float64) {
	r.HealthTransitions = int64(m["meridian_health_transitions_total"])
	r.ServerPanics = m["meridian_dns_panics_total"]
	r.ServerCPUSeconds = m["process_cpu_seconds_total"]
	const hist = "meridian_dns_request_duration_seconds"
	count := m[hist+"_count"]
	if count > 0 {
		r.ServerAnswerMeanMicros = m[hist+"_sum"] / count * 1e6
	}
	// The p99 is known only to the resolution of the buckets: report the
	// upper bound of the first bucket holding 99% of the answers.
	var bounds []float64
	for series, v := range m {
		if strings.HasPrefix(series, "meridian_dns_responses_total{") && strings.Contains(series, `rcode="SERVFAIL"`) {
			r.ServerServFail += v
		}
		if le, ok := strings.CutPrefix(series, hist+`_bucket{le="`); ok {
			le = strings.TrimSuffix(le, `"}`)
			if b, err := strconv.ParseFloat(le, 64); err == nil && v >= 0.99*count {
				bounds = append(bounds, b)
			}
		}
	}
	if count > 0 && len(bounds) > 0 {
		r.ServerAnswerP99Millis = slices.Min(bounds) * 1000
	}
}

// judge applies the pass criteria; see docs/reliability.md.
func (r *Report) judge(w rssWindows, interrupted error) {
	if interrupted != nil {
		r.fail("interrupted")
	}
	if r.QueriesSent == 0 {
		r.fail("no queries were sent")
	}
	if r.QueriesLost > 0 {
		r.fail("%d queries were lost (no answer within 2s)", r.QueriesLost)
	}
	if r.Interrupted > 0 || r.UnexpectedIDs > 0 {
		r.fail("dnsperf counted %d interrupted queries and %d responses with unexpected IDs", r.Interrupted, r.UnexpectedIDs)
	}
	if r.ResponsesParsed != r.QueriesAnswered {
		r.fail("parsed %d responses from dnsperf -v but dnsperf reports %d completed", r.ResponsesParsed, r.QueriesAnswered)
	}
	if r.ServFail > 0 || r.ServerServFail > 0 {
		r.fail("SERVFAIL answers: %d seen by dnsperf, %.0f counted by meridian", r.ServFail, r.ServerServFail)
	}
	if r.ServerPanics > 0 {
		r.fail("meridian recovered from %.0f panics", r.ServerPanics)
	}
	if r.ErrorLines > 0 {
		r.fail("meridian logged %d error lines", r.ErrorLines)
	}
	if w.Unbounded {
		r.fail("RSS grew without bound: %.1f MiB on average over the last 20%% against %.1f MiB after warm-up (limit: %.1fx and +%d MiB)",
			mib(w.Final), mib(w.Baseline), growthRatio, growthBytes>>20)
	}
	if r.RSSSamples == 0 {
		r.fail("no memory samples were read from /proc")
	}
	// A soak that did not change what it claims to change proves nothing.
	if r.ZoneReloadsObserved == 0 {
		r.fail("meridian logged no zone reload: the zone rewrites were not exercised")
	}
	if r.HealthTransitions == 0 {
		r.fail("meridian counted no health transitions: the health flaps were not exercised")
	}
	if r.GeoIPReloadsObserved == 0 {
		r.fail("meridian logged no GeoIP reload: the database replacements were not exercised")
	}
	r.Passed = len(r.Failures) == 0
	if r.Failures == nil {
		r.Failures = []string{}
	}
}
