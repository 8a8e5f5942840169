package server

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/dns/rrl"
	"github.com/meridian-dns/meridian/metrics"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// The fast path. Most queries an authoritative server sees are the same
// few questions asked again and again, in a plain form: one IN question,
// no compression, at most an OPT with Client Subnet. For those the handler
// skips miekg/dns entirely. The first time a question is asked of a
// snapshot, the full path answers it and its reply is kept in the
// snapshot's answer cache: the whole packed reply for static data, and for
// a service the fact that the name is one (its addresses are chosen per
// query). Later asks are answered from the cache: a static reply is copied
// with the query's ID and flags patched in, a service reply is written
// from the routing decision, record by record; the OPT record is written
// fresh for each query. Replies are byte for byte those of the full path
// (fast_test.go checks this on a corpus). Anything the fast path does not
// handle itself, including a reply too big for the requestor's UDP size,
// falls back to the full path.

// answerCache maps questions, exactly as received, to what the full path
// answered for them from one snapshot. It is bounded: a full shard drops
// an arbitrary entry for each new one.
type answerCache struct {
	snap   *zones.Snapshot
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

const (
	cacheShards = 64
	// DefaultAnswerCacheSize bounds the answer cache of one snapshot, in
	// questions; at a few hundred bytes an entry this is tens of MB.
	DefaultAnswerCacheSize = 131072
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*cachedAnswer
	_  [40]byte // keep shards on separate cache lines
}

// cachedAnswer is what the full path answered to one question.
type cachedAnswer struct {
	// reply is the full path's reply without its OPT record, for static
	// answers; nil for a service.
	reply   []byte
	service *zones.Service
	zone    string
	rcode   int
	qtype   uint16
	// rrl identifies the answer for response rate limiting (rrlResponse).
	rrl rrl.Response
	// counters holds the metric series this answer counts in, resolved
	// once for the metrics it was built with.
	counters atomic.Pointer[answerCounters]
}

// answerCounters are the metric series of one cached answer, each looked
// up on its first use (so no series is exported before it counts).
type answerCounters struct {
	m         *metrics.Metrics
	queries   [2]lazyCounter // by transport
	responses lazyCounter
	// geo counts service answers by region index.
	geo []lazyCounter
}

// lazyCounter is a metric series resolved once, on first use.
type lazyCounter struct {
	p atomic.Pointer[prometheus.Counter]
}

// load returns the series, or nil before its first use. Callers check it
// before calling get, whose label arguments would cost an allocation.
func (l *lazyCounter) load() prometheus.Counter {
	if p := l.p.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *lazyCounter) get(vec *prometheus.CounterVec, labels ...string) prometheus.Counter {
	c := vec.WithLabelValues(labels...)
	l.p.Store(&c)
	return c
}

func newAnswerCache(snap *zones.Snapshot) *answerCache {
	c := &answerCache{snap: snap, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cachedAnswer)
	}
	return c
}

func (c *answerCache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

func (c *answerCache) get(key []byte) *cachedAnswer {
	s := c.shard(key)
	s.mu.RLock()
	a := s.m[string(key)]
	s.mu.RUnlock()
	return a
}

func (c *answerCache) put(key []byte, a *cachedAnswer, limit int) {
	s := c.shard(key)
	s.mu.Lock()
	if len(s.m) >= max(1, limit/cacheShards) {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[string(key)] = a
	s.mu.Unlock()
}

// cache returns the answer cache of the snapshot being served.
func (h *Handler) cache(snap *zones.Snapshot) *answerCache {
	c := h.answers.Load()
	if c != nil && c.snap == snap {
		return c
	}
	n := newAnswerCache(snap)
	if h.answers.CompareAndSwap(c, n) {
		return n
	}
	if c = h.answers.Load(); c != nil && c.snap == snap {
		return c
	}
	return n // lost to another snapshot's cache: answer from ours, unshared
}

// fastStatus is the outcome of the fast path for one query.
type fastStatus uint8

const (
	// fastAnswered: the reply is complete (or nil: dropped by RRL).
	fastAnswered fastStatus = iota
	// fastMiss: the question is not in the cache; the full path answers
	// and the cache remembers its answer.
	fastMiss
	// fastDeclined: the cached static reply is too big for this query's
	// UDP size: the full path answers (and truncates).
	fastDeclined
	// fastDecided: the routing decision for a service is one the fast
	// path does not write (NODATA, or too big for UDP): the full path
	// answers with the decision already made.
	fastDecided
)

// fast answers q from the answer cache of the current snapshot.
func (h *Handler) fast(fq *fastQuery, query []byte, client netip.Addr, t Transport, buf []byte, start time.Time) (reply []byte, st fastStatus, d routing.Decision) {
	snap := h.zones.Load()
	if snap == nil {
		return nil, fastDeclined, d
	}
	a := h.cache(snap).get(fq.question)
	if a == nil {
		return nil, fastMiss, d
	}
	resolver := client.Unmap()
	limit := 65535
	if t == UDP {
		limit = h.udpLimit(fq.edns, fq.udpSize)
	}
	out := buf[:0]
	if cap(out) < 512 {
		out = make([]byte, 0, 512)
	}
	var scope uint8
	var region *zones.Region
	if a.service == nil {
		if len(a.reply)+optLen(fq) > limit {
			return nil, fastDeclined, d
		}
		out = append(out, a.reply...)
	} else {
		c := routing.Client{Addr: resolver, SourceBits: -1}
		if fq.hasSubnet && fq.subnet.Routable() {
			c = routing.Client{Addr: fq.subnet.Addr, SourceBits: int(fq.subnet.SourceBits)}
		}
		d = h.router.Decide(a.service, fq.qtype, c, false)
		size := headerLen + len(fq.question) + optLen(fq)
		if fq.qtype == dns.TypeAAAA {
			size += 28 * len(d.Endpoints)
		} else {
			size += 16 * len(d.Endpoints)
		}
		if d.NoData || size > limit {
			return nil, fastDecided, d
		}
		out = appendService(out, fq, &d)
		scope, region = uint8(d.Scope), d.Region
		h.observeDecision(a, &d)
	}
	// The query's ID, RD and CD; the reply's AA, TC, rcode and counts.
	out[0], out[1] = query[0], query[1]
	out[2] = out[2]&^0x01 | query[2]&0x01
	out[3] = out[3]&^0x10 | query[3]&0x10
	if fq.edns {
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
		out = appendOPT(out, h.opts.UDPSize, fq, scope)
	}
	if h.RRL != nil && t == UDP {
		switch h.RRL.Decide(resolver, rrlCategory(a.rcode), a.rrl, start) {
		case rrl.Drop:
			if m := h.Metrics; m != nil {
				m.RRLDropped().Inc()
				a.metrics(h).query(a, t).Inc()
				m.FastAnswers.Inc()
			}
			return nil, fastAnswered, d
		case rrl.Slip:
			if m := h.Metrics; m != nil {
				m.RRLSlipped().Inc()
			}
			out = slipped(out, fq)
		}
	}
	if m := h.Metrics; m != nil {
		ctr := a.metrics(h)
		ctr.query(a, t).Inc()
		ctr.response(a).Inc()
		m.FastAnswers.Inc()
		if out[2]&0x02 != 0 {
			m.Truncated.Inc()
		}
		if fq.hasSubnet {
			m.ECSQueries.Inc()
		}
	}
	if h.logQuery() {
		e := QueryLogEntry{Client: resolver, Name: string(appendName(nil, fq.question)), Type: fq.qtype,
			Transport: t, Rcode: a.rcode, Answers: int(binary.BigEndian.Uint16(out[6:])), Duration: time.Since(start)}
		if fq.hasSubnet {
			e.ECS = fq.subnet.Prefix()
		}
		if region != nil {
			e.Region = region.Name
		}
		h.QueryLog.Log(e)
	}
	return out, fastAnswered, d
}

// observeDecision counts a fast service answer in the metrics, as
// observeService does for the full path.
func (h *Handler) observeDecision(a *cachedAnswer, d *routing.Decision) {
	m := h.Metrics
	if m == nil {
		return
	}
	s := a.service
	if d.AllDown {
		m.ServeAll.WithLabelValues(s.Name, s.AllDown.String()).Inc()
	}
	if d.Region == nil {
		return
	}
	if ctr := a.metrics(h); d.Region.Index < len(ctr.geo) {
		ctr.geoAnswer(a, d.Region).Inc()
	}
	if d.Preferred != nil && d.Preferred != d.Region {
		m.Failovers.WithLabelValues(s.Name, d.Preferred.Name, d.Region.Name).Inc()
	}
}

// appendService writes a service's reply: header, the question as asked,
// and one record per endpoint owned by the question's name (a pointer to
// it, as the full path compresses it).
func appendService(out []byte, fq *fastQuery, d *routing.Decision) []byte {
	n := len(d.Endpoints)
	out = append(out, 0, 0, 0x84, 0, 0, 1, byte(n>>8), byte(n), 0, 0, 0, 0) // QR AA
	out = append(out, fq.question...)
	ttl := d.TTL
	for _, ep := range d.Endpoints {
		out = append(out, 0xC0, headerLen, byte(fq.qtype>>8), byte(fq.qtype), 0, byte(dns.ClassINET),
			byte(ttl>>24), byte(ttl>>16), byte(ttl>>8), byte(ttl))
		if fq.qtype == dns.TypeAAAA {
			a := ep.Address.As16()
			out = append(out, 0, 16)
			out = append(out, a[:]...)
		} else {
			a := ep.Address.As4()
			out = append(out, 0, 4)
			out = append(out, a[:]...)
		}
	}
	return out
}

// slipped cuts a fast reply down to what response rate limiting's slip
// sends (rateLimit does the same to a full reply): header with TC, the
// question, and the OPT record.
func slipped(out []byte, fq *fastQuery) []byte {
	var opt []byte
	if fq.edns {
		opt = out[len(out)-optLen(fq):]
	}
	end := headerLen + len(fq.question)
	out[2] |= 0x02
	binary.BigEndian.PutUint16(out[6:], 0)
	binary.BigEndian.PutUint16(out[8:], 0)
	binary.BigEndian.PutUint16(out[10:], 0)
	if fq.edns {
		out[11] = 1
	}
	return append(out[:end], opt...) // opt lies after end: copy forward is safe
}

// rrlResponse identifies a reply of category cat within a client network's
// rate-limiting budgets: the question (name in lower case, and type) for
// answers, the zone for NXDOMAIN, so that a flood of random names shares one
// budget, and nothing for errors. The fast path keeps it with a cached
// answer; both paths make it here.
func rrlResponse(cat rrl.Category, qname string, qtype uint16, zone string) rrl.Response {
	switch cat {
	case rrl.Answer:
		return rrl.Identify(strings.ToLower(qname) + "/" + strconv.Itoa(int(qtype)))
	case rrl.NXDomain:
		return rrl.Identify(strings.ToLower(zone))
	}
	return rrl.Identify("")
}

// rrlCategory is the rate-limiting category of a reply's rcode.
func rrlCategory(rcode int) rrl.Category {
	switch rcode {
	case dns.RcodeSuccess:
		return rrl.Answer
	case dns.RcodeNameError:
		return rrl.NXDomain
	default:
		return rrl.Error
	}
}

// counters returns the answer's metric series for the handler's metrics,
// resolving them again when the metrics changed since they were cached.
func (a *cachedAnswer) metrics(h *Handler) *answerCounters {
	if c := a.counters.Load(); c != nil && c.m == h.Metrics {
		return c
	}
	c := h.counters(a)
	a.counters.Store(c)
	return c
}

// remember stores the full path's reply to a fast-parsed query in the
// answer cache, when later asks may be answered from it: out is the packed
// reply to q.
func (h *Handler) remember(fq *fastQuery, q *request, resp *dns.Msg, out []byte) {
	if !fq.lower || resp.Truncated || resp.Rcode > 0xf || q.snap == nil || !(q.static || q.direct) {
		return
	}
	qname := resp.Question[0].Name
	a := &cachedAnswer{zone: q.zone, rcode: resp.Rcode, qtype: fq.qtype,
		rrl: rrlResponse(rrlCategory(resp.Rcode), qname, fq.qtype, q.zone)}
	if q.direct {
		a.service = q.service
	} else {
		// The OPT record is packed last and compresses nothing: the reply
		// without it is the bytes before it, one additional record less.
		if fq.edns && resp.Extra[len(resp.Extra)-1].Header().Rrtype != dns.TypeOPT {
			return
		}
		a.reply = append([]byte(nil), out[:len(out)-optLen(fq)]...)
		if fq.edns {
			binary.BigEndian.PutUint16(a.reply[10:], binary.BigEndian.Uint16(a.reply[10:])-1)
		}
	}
	// Only into the cache of the snapshot being served: a reload may have
	// swapped it since this query began.
	if c := h.answers.Load(); c != nil && c.snap == q.snap {
		c.put(fq.question, a, h.opts.AnswerCacheSize)
	}
}

// counters makes the metric series holder of a cached answer.
func (h *Handler) counters(a *cachedAnswer) *answerCounters {
	c := &answerCounters{m: h.Metrics}
	if s := a.service; s != nil {
		c.geo = make([]lazyCounter, len(s.Zone.Regions()))
	}
	return c
}

// query returns the queries counter of transport t.
func (c *answerCounters) query(a *cachedAnswer, t Transport) prometheus.Counter {
	if c := c.queries[t].load(); c != nil {
		return c
	}
	return c.queries[t].get(c.m.Queries, a.zone, metrics.QType(a.qtype), t.String())
}

// response returns the responses counter of the answer's rcode.
func (c *answerCounters) response(a *cachedAnswer) prometheus.Counter {
	if c := c.responses.load(); c != nil {
		return c
	}
	return c.responses.get(c.m.Responses, a.zone, metrics.Rcode(a.rcode))
}

// geoAnswer returns the service answers counter of region r.
func (c *answerCounters) geoAnswer(a *cachedAnswer, r *zones.Region) prometheus.Counter {
	if c := c.geo[r.Index].load(); c != nil {
		return c
	}
	return c.geo[r.Index].get(c.m.GeoAnswers, a.service.Zone.Origin, a.service.Name, r.Name)
}
