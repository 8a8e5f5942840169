package server

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
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

// The answer cache. Most queries an authoritative server sees are the same
// few questions asked again and again, in a plain form (parse.go). The
// first time a question is asked of a snapshot, the full path answers it
// and its packed reply becomes a template in the snapshot's answer cache:
// the whole reply for static data; for a service, the reply's header and
// question and the bytes of its first address record up to the address,
// as the full path packed them. Later asks replay the template: a static
// reply is copied with the query's ID, RD and CD; a service's records are
// written from the routing decision for this client, in the full path's
// record layout. finish then treats the reply as it treats every other.
// No answer-shaping rule lives here: anything a template cannot replay
// (a reply over the UDP limit, a service with nothing to answer for this
// client) goes back to the full path. cache_test.go and FuzzFastPath hold
// replies from the cache to the full path's bytes.

// answerCache maps questions, exactly as received, to templates of what
// the full path answered for them from one snapshot. It is bounded: a full
// shard drops an arbitrary entry for each new one. Its memo remembers the
// routing decisions its service templates are replayed with.
type answerCache struct {
	snap *zones.Snapshot
	seed maphash.Seed
	memo routing.Memo
	// front holds templates found in the shards, by a cheap hash of their
	// key: the questions asked again and again are found with one atomic
	// load and a comparison, without the shards' hash, lock and map. It
	// only ever holds templates of this cache.
	front  [frontSlots]atomic.Pointer[template]
	shards [cacheShards]cacheShard
}

// frontSlots is the size of an answer cache's front table (8 KiB).
const (
	frontBits  = 10
	frontSlots = 1 << frontBits
)

const (
	cacheShards = 64
	// DefaultAnswerCacheSize bounds the answer cache of one snapshot, in
	// questions; at a few hundred bytes an entry this is tens of MB.
	DefaultAnswerCacheSize = 131072
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*template
	_  [40]byte // keep shards on separate cache lines
}

// template is what the full path answered to one question, to replay.
type template struct {
	// key is the template's key in the answer cache.
	key string
	// body is the reply as the full path packed it, without our OPT
	// record: all of it for a static answer; for a service, its header
	// and question.
	body []byte
	// record is, for a service, its first answer record as the full path
	// packed it up to RDLENGTH: owner (a pointer to the question), type,
	// class and TTL. Each address is written as such a record.
	record []byte
	// service is the service a question names; nil for a static answer.
	service *zones.Service
	// signed, for a signed zone's service asked with DO, holds the answers
	// the full path has made, one per routing decision; body is then the
	// header and question only.
	signed *signedAnswers
	meta   answerMeta
}

// signedAnswers are a signed service's answers to DO queries: for each
// routing decision the full path has made (its TTL and addresses), the
// sections after the question as the full path packed them, addresses and
// their RRSIGs. A service's decisions are a finite set (per region,
// selection and TTL), and the signatures stay valid for the snapshot's
// window; the set is bounded all the same.
type signedAnswers struct {
	mu sync.RWMutex
	m  map[string]signedAnswer
}

// signedAnswer is one decision's answer: the bytes after the question and
// the counts of the answer and authority sections.
type signedAnswer struct {
	sections []byte
	an, ns   uint16
}

// maxSignedAnswers bounds the answers kept per signed service question.
const maxSignedAnswers = 256

// maxDecisionKey is the longest decision key: a TTL and 32 IPv6 addresses.
const maxDecisionKey = 4 + 32*16

// decisionKey returns the key of a routing decision's answer in buf: its
// TTL and addresses in order; nil when it has too many to keep.
func decisionKey(d *routing.Decision, buf *[maxDecisionKey]byte) []byte {
	if len(d.Endpoints) > 32 {
		return nil
	}
	key := binary.BigEndian.AppendUint32(buf[:0], d.TTL)
	for _, ep := range d.Endpoints {
		if ep.CNAME != "" {
			return nil
		}
		a := ep.Address.As16()
		key = append(key, a[:]...)
	}
	return key
}

// answerMeta is what finishing a reply needs of its answer: metric labels,
// the rate-limiting identity, and the metric series, resolved once for an
// answer replayed from the cache.
type answerMeta struct {
	zone       string
	qtype      uint16
	qtypeLabel string
	rcode      int
	rrl        rrl.Response
	// service is the service answered, if any, for its per-region series.
	service *zones.Service
	series  atomic.Pointer[answerSeries]
}

// fill completes the meta of a full-path answer to q with rcode.
func (m *answerMeta) fill(q *request, rcode int) {
	m.zone, m.rcode, m.qtypeLabel = q.zone, rcode, "none"
	var qname string
	if len(q.msg.Question) > 0 {
		qname, m.qtype = q.msg.Question[0].Name, q.msg.Question[0].Qtype
		m.qtypeLabel = metrics.QType(m.qtype)
	}
	cat := rrlCategory(rcode)
	m.rrl = rrlResponse(cat, qname, m.qtype, q.zone)
}

// forTemplate returns a copy of m for a template, without m's metric
// series (made again, once, for the template).
func (m *answerMeta) forTemplate() answerMeta {
	return answerMeta{zone: m.zone, qtype: m.qtype, qtypeLabel: m.qtypeLabel, rcode: m.rcode, rrl: m.rrl, service: m.service}
}

// answerSeries are the metric series one answer counts in, each looked up
// on its first use (so no series is exported before it counts).
type answerSeries struct {
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

// seriesFor returns the answer's metric series for the handler's metrics,
// making them again when the metrics changed since they were made.
func (m *answerMeta) seriesFor(h *Handler) *answerSeries {
	if s := m.series.Load(); s != nil && s.m == h.Metrics {
		return s
	}
	s := &answerSeries{m: h.Metrics}
	if m.service != nil {
		s.geo = make([]lazyCounter, len(m.service.Zone.Regions()))
	}
	m.series.Store(s)
	return s
}

// query returns the queries counter of transport t.
func (s *answerSeries) query(m *answerMeta, t Transport) prometheus.Counter {
	if c := s.queries[t].load(); c != nil {
		return c
	}
	return s.queries[t].get(s.m.Queries, m.zone, m.qtypeLabel, t.String())
}

// response returns the responses counter of the answer's rcode.
func (s *answerSeries) response(m *answerMeta) prometheus.Counter {
	if c := s.responses.load(); c != nil {
		return c
	}
	return s.responses.get(s.m.Responses, m.zone, metrics.Rcode(m.rcode))
}

// geoAnswer returns the service answers counter of region r.
func (s *answerSeries) geoAnswer(m *answerMeta, r *zones.Region) prometheus.Counter {
	if r.Index >= len(s.geo) {
		return s.m.GeoAnswers.WithLabelValues(m.service.Zone.Origin, m.service.Name, r.Name)
	}
	if c := s.geo[r.Index].load(); c != nil {
		return c
	}
	return s.geo[r.Index].get(s.m.GeoAnswers, m.service.Zone.Origin, m.service.Name, r.Name)
}

func newAnswerCache(snap *zones.Snapshot) *answerCache {
	c := &answerCache{snap: snap, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*template)
	}
	return c
}

func (c *answerCache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

func (c *answerCache) get(key []byte) *template {
	f := &c.front[frontSlot(key)]
	held := f.Load()
	if held != nil && held.key == string(key) {
		return held
	}
	s := c.shard(key)
	s.mu.RLock()
	t := s.m[string(key)]
	s.mu.RUnlock()
	// A template another key holds the front slot with takes it over one
	// time in eight, so that two questions asked alike share the slot by
	// turns without writing it on every ask.
	if t != nil && (held == nil || rand.Uint32()%8 == 0) {
		f.Store(t)
	}
	return t
}

// frontSlot picks key's slot in the front table from its length and
// three 8-byte windows: its start, its middle and its end (which holds
// the query type and class).
func frontSlot(key []byte) int {
	n := len(key)
	h := uint64(n)
	if n >= 8 {
		h ^= binary.LittleEndian.Uint64(key) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(key[n/2-4:]), 21) ^
			bits.RotateLeft64(binary.LittleEndian.Uint64(key[n-8:]), 42)
	} else {
		for _, b := range key {
			h = h<<8 | uint64(b)
		}
	}
	return int(h * 0x9e3779b97f4a7c15 >> (64 - frontBits))
}

func (c *answerCache) put(key []byte, t *template, limit int) {
	t.key = string(key)
	s := c.shard(key)
	s.mu.Lock()
	if len(s.m) >= max(1, limit/cacheShards) {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[string(key)] = t
	s.mu.Unlock()
}

// cacheFor returns the answer cache of snap, the snapshot being served.
func (h *Handler) cacheFor(snap *zones.Snapshot) *answerCache {
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

// remember keeps the full path's answer to a plain query as a template in
// the view's answer cache, when later asks may replay it: body is the
// packed reply (without our OPT record) to q.
func (h *Handler) remember(v *view, pq *plainQuery, q *request, resp *dns.Msg, body []byte) {
	if !pq.rememberable() || resp.Truncated || q.meta.rcode > 0xf || v.cache == nil {
		return
	}
	t := &template{meta: q.meta.forTemplate()}
	switch q.cacheable {
	case staticAnswer:
		t.body = append([]byte(nil), body...)
	case serviceAnswer:
		if q.signed && pq.edns.do {
			h.rememberSigned(v, pq, q, body)
			return
		}
		if !t.serviceShape(body, pq) {
			return
		}
		t.service = q.meta.service
	default:
		return
	}
	var kb [maxCacheKey]byte
	v.cache.put(pq.cacheKey(&kb), t, h.opts.AnswerCacheSize)
}

// rememberSigned keeps the full path's signed answer to a DO query for a
// service, under the decision it answers, in the question's template
// (made on the first such answer).
func (h *Handler) rememberSigned(v *view, pq *plainQuery, q *request, body []byte) {
	var db [maxDecisionKey]byte
	dk := decisionKey(q.decision, &db)
	if dk == nil || binary.BigEndian.Uint16(body[10:]) != 0 {
		return
	}
	var kb [maxCacheKey]byte
	key := pq.cacheKey(&kb)
	t := v.cache.get(key)
	if t == nil || t.signed == nil {
		qend := headerLen + len(pq.question)
		t = &template{body: append([]byte(nil), body[:qend]...), service: q.meta.service,
			signed: &signedAnswers{m: map[string]signedAnswer{}}, meta: q.meta.forTemplate()}
		v.cache.put(key, t, h.opts.AnswerCacheSize)
	}
	a := signedAnswer{sections: append([]byte(nil), body[len(t.body):]...),
		an: binary.BigEndian.Uint16(body[6:]), ns: binary.BigEndian.Uint16(body[8:])}
	t.signed.mu.Lock()
	if len(t.signed.m) < maxSignedAnswers {
		t.signed.m[string(dk)] = a
	}
	t.signed.mu.Unlock()
}

// recordHeader is the length of an answer record up to RDLENGTH with its
// owner compressed to a pointer: owner, type, class and TTL.
const recordHeader = 10

// serviceShape takes a service template from the full path's reply: the
// header and question, and the first answer record up to RDLENGTH. It
// reports false when the reply is not one that records written per query
// can reproduce: something else than address records of the question's
// type owned by the question's name.
func (t *template) serviceShape(body []byte, pq *plainQuery) bool {
	qend := headerLen + len(pq.question)
	n := int(binary.BigEndian.Uint16(body[6:]))
	if n == 0 || binary.BigEndian.Uint32(body[8:]) != 0 || len(body) < qend+recordHeader+2 {
		return false
	}
	rdlen := addressLen(pq.qtype)
	rec := body[qend:]
	if rdlen == 0 || len(body) != qend+n*(recordHeader+2+rdlen) ||
		rec[0] != 0xc0 || rec[1] != headerLen || binary.BigEndian.Uint16(rec[2:]) != pq.qtype {
		return false
	}
	t.body = append([]byte(nil), body[:qend]...)
	t.record = append([]byte(nil), rec[:recordHeader]...)
	return true
}

// addressLen is the RDATA length of an address record of type qtype, 0
// for other types.
func addressLen(qtype uint16) int {
	switch qtype {
	case dns.TypeA:
		return 4
	case dns.TypeAAAA:
		return 16
	}
	return 0
}

// serviceLen is the length of a service reply with n records.
func (t *template) serviceLen(n int) int {
	return len(t.body) + n*(recordHeader+2+addressLen(t.meta.qtype))
}

// appendService writes a service reply: the template's header and
// question, and one record per endpoint in the template's layout, with the
// decision's TTL.
func (t *template) appendService(out []byte, d *routing.Decision) []byte {
	out = append(out, t.body...)
	binary.BigEndian.PutUint16(out[6:], uint16(len(d.Endpoints)))
	size := 4
	if t.meta.qtype == dns.TypeAAAA {
		size = 16
	}
	out = slices.Grow(out, len(d.Endpoints)*(recordHeader+2+size))
	for _, ep := range d.Endpoints {
		out = append(out, t.record[:recordHeader-4]...)
		out = binary.BigEndian.AppendUint32(out, d.TTL)
		// The address straight into the reply, not through a copy.
		n := len(out)
		out = out[:n+2+size]
		out[n], out[n+1] = 0, byte(size)
		if size == 16 {
			*(*[16]byte)(out[n+2:]) = ep.Address.As16()
		} else {
			*(*[4]byte)(out[n+2:]) = ep.Address.As4()
		}
	}
	return out
}

// replay answers a plain query from its template. A reply the template
// cannot make (over the UDP limit, or a service decision with nothing to
// answer) is left to the full path, with the decision made.
func (h *Handler) replay(v *view, t *template, pq *plainQuery, query []byte, resolver netip.Addr, tr Transport, buf []byte, start time.Time) []byte {
	var e *ednsInfo
	if pq.hasEDNS {
		e = &pq.edns
	}
	limit := 65535
	if tr == UDP {
		limit = h.udpLimit(e)
	}
	out := buf[:0]
	if cap(out) < 512 {
		out = make([]byte, 0, 512)
	}
	// Field by field: built as one literal, the outcome went through a
	// temporary whose copy stalled on store forwarding.
	var o outcome
	o.edns, o.rcode, o.cached, o.question, o.log = e, t.meta.rcode, true, pq.question, true
	if t.service == nil {
		if len(t.body)+h.optLen(e) > limit {
			return h.full(v, query, resolver, tr, buf, start, nil, nil) // the full path truncates
		}
		out = append(out, t.body...)
	} else {
		c := routing.Client{Addr: resolver, SourceBits: -1}
		if e != nil && e.hasSubnet && e.subnet.Routable() {
			c = routing.Client{Addr: e.subnet.Addr, SourceBits: int(e.subnet.SourceBits)}
		}
		var d routing.Decision
		h.router.DecideMemo(&d, &v.cache.memo, t.service, pq.qtype, c)
		if t.signed != nil {
			var db [maxDecisionKey]byte
			var a signedAnswer
			var ok bool
			if dk := decisionKey(&d, &db); dk != nil {
				t.signed.mu.RLock()
				a, ok = t.signed.m[string(dk)]
				t.signed.mu.RUnlock()
			}
			if !ok || len(t.body)+len(a.sections)+h.optLen(e) > limit {
				decided := d // escapes: only on this rare path
				return h.full(v, query, resolver, tr, buf, start, pq, &decided)
			}
			h.observeDecision(&t.meta, t.service, &d)
			out = append(append(out, t.body...), a.sections...)
			binary.BigEndian.PutUint16(out[6:], a.an)
			binary.BigEndian.PutUint16(out[8:], a.ns)
		} else {
			if d.NoData || t.serviceLen(len(d.Endpoints))+h.optLen(e) > limit {
				decided := d // escapes: only on this rare path
				return h.full(v, query, resolver, tr, buf, start, nil, &decided)
			}
			h.observeDecision(&t.meta, t.service, &d)
			out = t.appendService(out, &d)
		}
		o.scope, o.region = uint8(d.Scope), d.Region
	}
	// The query's ID, and RD and CD, which a QUERY's reply copies.
	out[0], out[1] = query[0], query[1]
	out[2] = out[2]&^0x01 | query[2]&0x01
	out[3] = out[3]&^0x10 | query[3]&0x10
	return h.finish(out, &o, &t.meta, resolver, tr, start)
}
