package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// dnsperfResult is what one dnsperf run reported.
type dnsperfResult struct {
	// From the per-query lines of -v.
	Responses int64
	Rcodes    map[string]int64
	Timeouts  int64
	latencies []uint32 // microseconds
	// Slowest are the slowest responses, slowest first.
	Slowest []slowResponse

	// From the final statistics.
	Sent, Completed, Lost int64
	// Interrupted and Unexpected are printed only when non-zero.
	Interrupted, Unexpected int64
	RunTime                 float64 // seconds
	QPS                     float64
	StatsSeen               bool

	// Stderr is dnsperf's standard error, for the report when it fails.
	Stderr string
}

// slowResponse is one of the slowest responses of a run.
type slowResponse struct {
	// At is when the soak read the response line, from the start of the
	// load; dnsperf's output is block-buffered, so it is late by up to a
	// few tens of milliseconds.
	At      time.Duration
	Latency time.Duration
}

// keepSlowest is how many of the slowest responses a run remembers.
const keepSlowest = 10

// dnsperfArgs returns the command line of the soak's dnsperf run.
func dnsperfArgs(server netip.AddrPort, file string, d time.Duration, qps int) []string {
	return []string{
		"-s", server.Addr().String(), "-p", strconv.Itoa(int(server.Port())),
		"-B", "-d", file,
		"-l", strconv.FormatFloat(d.Seconds(), 'f', -1, 64),
		"-Q", strconv.Itoa(qps),
		"-c", "4", "-t", "2", "-v",
	}
}

// runDnsperf runs dnsperf against server (a loopback address) and parses its
// output as it streams; start is the start of the load, for the times of
// the slowest responses.
func runDnsperf(ctx context.Context, server netip.AddrPort, file string, d time.Duration, qps int, start time.Time) (*dnsperfResult, error) {
	if !server.Addr().IsLoopback() {
		return nil, fmt.Errorf("refusing to run dnsperf against %s: not a loopback address", server)
	}
	cmd := exec.CommandContext(ctx, "dnsperf", dnsperfArgs(server, file, d, qps)...)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting dnsperf: %w", err)
	}
	res := &dnsperfResult{Rcodes: map[string]int64{}, latencies: make([]uint32, 0, min(int(d.Seconds()+1)*qps, 1<<22))}
	perr := res.parse(stdout, func() time.Duration { return time.Since(start) })
	werr := cmd.Wait()
	res.Stderr = stderr.String()
	if perr != nil {
		return res, fmt.Errorf("reading dnsperf's output: %w", perr)
	}
	if werr != nil {
		return res, fmt.Errorf("dnsperf: %w: %s", werr, strings.TrimSpace(res.Stderr))
	}
	if !res.StatsSeen {
		return res, errors.New("dnsperf printed no final statistics")
	}
	return res, nil
}

// parse reads dnsperf's standard output: with -v one line per response,
// "> RCODE desc latency" (desc is "binary input" for -B, else the query's
// input line), "> T desc" or "[Timeout] ..." for each query that timed
// out, then the statistics.
// The clock gives the time of each line.
func (r *dnsperfResult) parse(rd io.Reader, clock func() time.Duration) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		r.parseLine(sc.Text(), clock)
	}
	return sc.Err()
}

func (r *dnsperfResult) parseLine(line string, clock func() time.Duration) {
	if strings.HasPrefix(line, "> ") {
		f := strings.Fields(line[2:])
		if len(f) > 0 && f[0] == "T" {
			r.Timeouts++ // "> T <desc>": no answer within -t
			return
		}
		if len(f) < 2 {
			return
		}
		r.Responses++
		r.Rcodes[f[0]]++
		if s, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			us := uint32(min(s*1e6+0.5, float64(^uint32(0))))
			r.latencies = append(r.latencies, us)
			r.noteSlow(time.Duration(us)*time.Microsecond, clock)
		}
		return
	}
	if strings.HasPrefix(line, "[Timeout]") {
		r.Timeouts++ // the form dnsperf uses when it has no desc
		return
	}
	key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
	if !ok {
		return
	}
	first := strings.Fields(val)
	if len(first) == 0 {
		return
	}
	switch key {
	case "Queries sent":
		r.Sent, _ = strconv.ParseInt(first[0], 10, 64)
		r.StatsSeen = true
	case "Queries completed":
		r.Completed, _ = strconv.ParseInt(first[0], 10, 64)
	case "Queries lost":
		r.Lost, _ = strconv.ParseInt(first[0], 10, 64)
	case "Queries interrupted":
		r.Interrupted, _ = strconv.ParseInt(first[0], 10, 64)
	case "Unexpected IDs":
		r.Unexpected, _ = strconv.ParseInt(first[0], 10, 64)
	case "Run time (s)":
		r.RunTime, _ = strconv.ParseFloat(first[0], 64)
	case "Queries per second":
		r.QPS, _ = strconv.ParseFloat(first[0], 64)
	}
}

// latencyPercentiles returns the p50, p99 and maximum response latency in
// milliseconds (nearest-rank percentiles).
func (r *dnsperfResult) latencyPercentiles() (p50, p99, maxMs float64) {
	if len(r.latencies) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		i = max(0, min(i, len(s)-1))
		return float64(s[i]) / 1000
	}
	return rank(0.50), rank(0.99), float64(s[len(s)-1]) / 1000
}

// noteSlow remembers a response if it is among the keepSlowest slowest.
func (r *dnsperfResult) noteSlow(lat time.Duration, clock func() time.Duration) {
	n := len(r.Slowest)
	if n == keepSlowest && lat <= r.Slowest[n-1].Latency {
		return
	}
	i, _ := slices.BinarySearchFunc(r.Slowest, lat, func(s slowResponse, l time.Duration) int {
		return cmp.Compare(l, s.Latency) // descending
	})
	r.Slowest = slices.Insert(r.Slowest, i, slowResponse{At: clock(), Latency: lat})
	if len(r.Slowest) > keepSlowest {
		r.Slowest = r.Slowest[:keepSlowest]
	}
}
