// Package server is Meridian's DNS front end: it turns query bytes into
// reply bytes (Handler) and moves them over UDP and TCP (Server).
package server

import (
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dns/rrl"
	"github.com/meridian-dns/meridian/metrics"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// Options are the protocol settings of the handler.
type Options struct {
	// UDPSize is the EDNS UDP payload size we advertise and the largest UDP
	// reply we send (RFC 6891; 1232 avoids IP fragmentation).
	UDPSize uint16
	// ServerID, when set, is returned in NSID options (RFC 5001) and as
	// id.server/hostname.bind in class CHAOS.
	ServerID string
	// Chaos enables answers to CH TXT version.bind, version.server,
	// id.server and hostname.bind.
	Chaos bool
	// Version is the text of version.bind when Chaos is on.
	Version string
	// ECS enables EDNS Client Subnet (RFC 7871): services are answered for
	// the client's subnet instead of the resolver's address.
	ECS bool
	// ECSResolvers, when not empty, are the only resolvers whose Client
	// Subnet options are used: from any other resolver the option is
	// ignored (not used, not echoed), as if ECS were off.
	ECSResolvers []netip.Prefix
	// DebugNetworks may ask _explain.<service> TXT questions.
	DebugNetworks []netip.Prefix
	// FullPathOnly turns the fast path off: every query is unpacked and
	// answered through miekg/dns. For diagnosis and for the tests that
	// compare the two paths.
	FullPathOnly bool
	// AnswerCacheSize bounds the fast path's answer cache, in questions
	// (DefaultAnswerCacheSize when 0).
	AnswerCacheSize int
}

// DefaultUDPSize is the EDNS buffer size recommended by DNS Flag Day 2020.
const DefaultUDPSize = 1232

// Handler answers DNS queries from the current zone snapshot. It is safe for
// concurrent use: each query loads the snapshot once and uses only that.
type Handler struct {
	zones  *atomic.Pointer[zones.Snapshot]
	router *routing.Router
	opts   Options
	nsid   string
	logger *slog.Logger
	// Panics counts queries that hit a bug and were answered SERVFAIL.
	Panics atomic.Uint64
	// Metrics, when set before serving, counts queries and answers.
	Metrics *metrics.Metrics
	// QueryLog, when set before serving, receives a sample of queries.
	QueryLog QueryLogger
	// RRL, when set before serving, rate-limits UDP responses.
	RRL *rrl.Limiter
	// answers is the fast path's cache of the current snapshot's answers.
	answers atomic.Pointer[answerCache]
}

// QueryLogger records answered queries. Log must not block: the query path
// calls it inline.
type QueryLogger interface {
	Log(e QueryLogEntry)
}

// querySampler is a QueryLogger that keeps a sample of the queries: the
// handler asks Sample before it builds an entry for Log.
type querySampler interface {
	Sample() bool
}

// logQuery reports whether the query being answered is to be logged.
func (h *Handler) logQuery() bool {
	if h.QueryLog == nil {
		return false
	}
	s, ok := h.QueryLog.(querySampler)
	return !ok || s.Sample()
}

// QueryLogEntry describes one answered query for the query log.
type QueryLogEntry struct {
	Client    netip.Addr
	ECS       netip.Prefix
	Name      string
	Type      uint16
	Transport Transport
	Rcode     int
	Region    string
	Answers   int
	Duration  time.Duration
}

// NewHandler returns a handler serving the snapshot held by store, with
// service answers decided by router (nil: a router without GeoIP or health).
func NewHandler(store *atomic.Pointer[zones.Snapshot], router *routing.Router, opts Options, logger *slog.Logger) *Handler {
	if router == nil {
		router = routing.New(nil, nil)
	}
	if opts.UDPSize < 512 {
		opts.UDPSize = DefaultUDPSize
	}
	if opts.AnswerCacheSize <= 0 {
		opts.AnswerCacheSize = DefaultAnswerCacheSize
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{zones: store, router: router, opts: opts, nsid: hex.EncodeToString([]byte(opts.ServerID)), logger: logger}
}

// Transport says how a query arrived; it bounds the reply size.
type Transport uint8

// The transports a query can arrive on.
const (
	UDP Transport = iota
	TCP
)

// String returns "udp" or "tcp".
func (t Transport) String() string {
	if t == TCP {
		return "tcp"
	}
	return "udp"
}

const headerLen = 12

// Serve answers one query message from client (the resolver's address). It
// returns the reply in wire format, or nil when the message must be dropped
// (too short to answer, itself a response, or rate limited). buf is scratch
// space the reply may be packed into. The time it takes is observed in the
// request duration histogram.
func (h *Handler) Serve(query []byte, client netip.Addr, t Transport, buf []byte) []byte {
	start := time.Now()
	reply := h.serveAt(query, client, t, buf, start)
	if m := h.Metrics; m != nil && reply != nil {
		m.Duration.Observe(metrics.Since(start))
	}
	return reply
}

// serveAt is Serve for a transport that observes the request duration
// itself (the UDP reader, once per batch); start is when the query
// arrived.
//
// The pipeline: load the view once; a plain query whose question the
// view's answer cache holds is answered by replaying the full path's
// answer (cache.go); everything else takes the full path (full.go), which
// remembers its answer when a plain query may ask again. Every reply is
// finished the same way (finish.go): our OPT record, rate limiting,
// metrics and the query log.
func (h *Handler) serveAt(query []byte, client netip.Addr, t Transport, buf []byte, start time.Time) (reply []byte) {
	if len(query) < headerLen || query[2]&0x80 != 0 {
		return nil // no header to answer, or a response: never answer those
	}
	resolver := client.Unmap()
	defer func() {
		if r := recover(); r != nil {
			h.Panics.Add(1)
			if h.Metrics != nil {
				h.Metrics.Panics.Inc()
			}
			h.logger.Error("panic answering query", "error", r)
			reply = h.errorReply(query, resolver, t, dns.RcodeServerFailure, start)
		}
	}()
	v := h.loadView()
	if !h.opts.FullPathOnly && v.cache != nil {
		var pq plainQuery
		if pq.parse(query, h.useECS(resolver)) {
			key := pq.question
			if pq.keyFlags() != 0 {
				var kb [maxCacheKey]byte // zeroed only for such queries
				key = pq.cacheKey(&kb)
			}
			if tpl := v.cache.get(key); tpl != nil {
				return h.replay(&v, tpl, &pq, query, resolver, t, buf, start)
			}
			return h.full(&v, query, resolver, t, buf, start, &pq, nil)
		}
	}
	return h.full(&v, query, resolver, t, buf, start, nil, nil)
}

// view is everything a query sees, loaded once per query: the zone
// snapshot being served and that snapshot's answer cache.
type view struct {
	snap  *zones.Snapshot
	cache *answerCache
}

// loadView returns the view of the snapshot being served.
func (h *Handler) loadView() view {
	snap := h.zones.Load()
	if snap == nil {
		return view{}
	}
	return view{snap: snap, cache: h.cacheFor(snap)}
}
