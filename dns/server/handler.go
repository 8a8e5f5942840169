// Package server is Meridian's DNS front end: it turns query bytes into
// reply bytes (Handler) and moves them over UDP and TCP (Server).
package server

import (
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dns/ecs"
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
// arrived, for the query log.
func (h *Handler) serveAt(query []byte, client netip.Addr, t Transport, buf []byte, start time.Time) (reply []byte) {
	if len(query) < headerLen || query[2]&0x80 != 0 {
		return nil // no header to answer, or a response: never answer those
	}
	defer func() {
		if r := recover(); r != nil {
			h.Panics.Add(1)
			if h.Metrics != nil {
				h.Metrics.Panics.Inc()
			}
			h.logger.Error("panic answering query", "error", r)
			reply = h.errorReply(query, client, t, dns.RcodeServerFailure, start)
		}
	}()
	var fq *fastQuery
	if !h.opts.FullPathOnly {
		if p, ok := parseFast(query, h.useECS(client)); ok {
			out, st, d := h.fast(&p, query, client, t, buf, start)
			switch st {
			case fastAnswered:
				return out
			case fastMiss:
				fq = &p // remember the full path's answer
			case fastDecided:
				decided := d // escapes: only on this rare path
				return h.full(query, client, t, buf, start, nil, &decided)
			}
		}
	}
	return h.full(query, client, t, buf, start, fq, nil)
}

// full answers a query through miekg/dns. fq, when set, is the query as
// the fast path read it, which had no cached answer: the answer is then
// remembered for the fast path. decided is the routing decision the fast
// path already made, if any.
func (h *Handler) full(query []byte, client netip.Addr, t Transport, buf []byte, start time.Time, fq *fastQuery, decided *routing.Decision) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(query); err != nil || !backwardPointers(query) {
		return h.errorReply(query, client, t, dns.RcodeFormatError, start)
	}
	q := &request{msg: req, wire: query, resolver: client.Unmap(), transport: t, decided: decided}
	resp := h.answer(q)
	if h.RRL != nil && t == UDP && !h.rateLimit(q, resp, start) {
		h.observeDropped(q)
		return nil
	}
	out, err := resp.PackBuffer(buf)
	if err != nil {
		h.logger.Error("packing reply", "error", err)
		return h.errorReply(query, client, t, dns.RcodeServerFailure, start)
	}
	if fq != nil {
		h.remember(fq, q, resp, out)
	}
	h.observe(q, resp.Rcode, resp.Truncated)
	if len(req.Question) == 1 && h.logQuery() {
		e := QueryLogEntry{Client: q.resolver, Name: req.Question[0].Name, Type: req.Question[0].Qtype,
			Transport: t, Rcode: resp.Rcode, Region: q.region, Answers: len(resp.Answer), Duration: time.Since(start)}
		if q.subnet != nil {
			e.ECS = q.subnet.Prefix()
		}
		h.QueryLog.Log(e)
	}
	return out
}

// errorReply answers a query that has no parsed message to answer from (it
// did not unpack, or answering it failed) with a bare header and rcode. It
// counts like every other reply and, over UDP, goes through response rate
// limiting in the error category: nil when it is dropped.
func (h *Handler) errorReply(query []byte, client netip.Addr, t Transport, rcode int, start time.Time) []byte {
	q := &request{transport: t, resolver: client.Unmap()}
	out := headerOnly(query, rcode)
	if h.RRL != nil && t == UDP {
		switch h.RRL.Decide(q.resolver, rrl.Error, rrlResponse(rrl.Error, "", 0, ""), start) {
		case rrl.Drop:
			if h.Metrics != nil {
				h.Metrics.RRLDropped().Inc()
			}
			h.observeDropped(q)
			return nil
		case rrl.Slip:
			if h.Metrics != nil {
				h.Metrics.RRLSlipped().Inc()
			}
			out[2] |= 0x02 // TC: a bare header already holds nothing more
		}
	}
	h.observe(q, rcode, out[2]&0x02 != 0)
	return out
}

// rateLimit applies response rate limiting to a UDP reply. It reports
// false when the reply must be dropped; a slipped reply is cut down to a
// truncated header and question so the client retries over TCP.
func (h *Handler) rateLimit(q *request, resp *dns.Msg, start time.Time) bool {
	cat := rrlCategory(resp.Rcode)
	var qname string
	var qtype uint16
	if len(q.msg.Question) > 0 {
		qname, qtype = q.msg.Question[0].Name, q.msg.Question[0].Qtype
	}
	switch h.RRL.Decide(q.resolver, cat, rrlResponse(cat, qname, qtype, q.zone), start) {
	case rrl.Drop:
		if h.Metrics != nil {
			h.Metrics.RRLDropped().Inc()
		}
		return false
	case rrl.Slip:
		if h.Metrics != nil {
			h.Metrics.RRLSlipped().Inc()
		}
		resp.Truncated = true
		resp.Answer, resp.Ns = nil, nil
		resp.Extra, _ = splitOPT(resp.Extra)
	}
	return true
}

// observeDropped counts a query whose response rate limiting dropped: it
// was received, but nothing was sent.
func (h *Handler) observeDropped(q *request) {
	if h.Metrics != nil {
		h.Metrics.Queries.WithLabelValues(q.zone, q.qtypeLabel(), q.transport.String()).Inc()
	}
}

// qtypeLabel is the query type metric label of the question, "none" when
// the query has none (or did not unpack).
func (q *request) qtypeLabel() string {
	if q.msg == nil || len(q.msg.Question) == 0 {
		return "none"
	}
	return metrics.QType(q.msg.Question[0].Qtype)
}

// observe counts one answered query in the metrics.
func (h *Handler) observe(q *request, rcode int, truncated bool) {
	m := h.Metrics
	if m == nil {
		return
	}
	m.Queries.WithLabelValues(q.zone, q.qtypeLabel(), q.transport.String()).Inc()
	m.Responses.WithLabelValues(q.zone, metrics.Rcode(rcode)).Inc()
	if truncated {
		m.Truncated.Inc()
	}
	if q.subnet != nil {
		m.ECSQueries.Inc()
	}
}

// backwardPointers reports whether the question's name uses compression
// pointers only as RFC 1035 section 4.1.4 allows: to a prior occurrence,
// that is backwards. miekg/dns follows forward pointers too, which would
// let a crafted query name hide in the additional section.
func backwardPointers(msg []byte) bool {
	if binary.BigEndian.Uint16(msg[4:]) == 0 {
		return true
	}
	for off := headerLen; off < len(msg); {
		l := int(msg[off])
		switch {
		case l == 0:
			return true
		case l&0xC0 == 0xC0:
			if off+1 >= len(msg) {
				return false
			}
			target := int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
			return target < off
		}
		off += l + 1
	}
	return false
}

// headerOnly is the reply to a query we cannot parse: its ID and opcode,
// RD for a QUERY (the only opcode that defines it), the given rcode and
// empty sections.
func headerOnly(query []byte, rcode int) []byte {
	out := make([]byte, headerLen)
	copy(out, query[:2])
	out[2] = query[2]&0x78 | 0x80 // keep the opcode, set QR; AA, TC clear
	if query[2]&0x78 == 0 {
		out[2] |= query[2] & 0x01 // RD
	}
	out[3] = byte(rcode & 0xf)
	return out
}

// request is the per-query state passed down the pipeline.
type request struct {
	msg       *dns.Msg
	wire      []byte
	resolver  netip.Addr
	transport Transport
	edns      *ednsInfo
	// subnet is the query's Client Subnet option, when it has one and ECS
	// is enabled; scope is the scope prefix the reply echoes with it.
	subnet *ecs.Subnet
	scope  int
	client routing.Client
	// zone is the apex of the zone that answered ("" when none did) and
	// region the region that answered a service query: metric labels.
	zone   string
	region string
	// decided is a routing decision made before the full path took over.
	decided *routing.Decision
	// What the fast path may remember of the answer: snap is the snapshot
	// that answered; static is set for answers from zone data alone,
	// direct for a question naming a service itself.
	snap    *zones.Snapshot
	static  bool
	direct  bool
	service *zones.Service
}

// answer builds the reply to a parsed query.
func (h *Handler) answer(q *request) *dns.Msg {
	req := q.msg
	resp := new(dns.Msg)
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	if req.Opcode == dns.OpcodeQuery {
		// RD and CD are defined for QUERY only: other opcodes get them clear.
		resp.RecursionDesired = req.RecursionDesired
		resp.CheckingDisabled = req.CheckingDisabled
	}
	resp.Compress = true
	if len(req.Question) > 0 {
		resp.Question = req.Question[:1]
	}

	edns, rcode := parseEDNS(req)
	q.edns = edns
	if rcode == dns.RcodeSuccess && edns != nil && h.useECS(q.resolver) {
		rcode = h.clientSubnet(q)
	}
	if rcode != dns.RcodeSuccess {
		resp.Rcode = rcode
		if edns != nil {
			// BADVERS, or a malformed option in a valid OPT: answer with
			// our OPT (RFC 6891 section 7), without echoing the option.
			h.setOPT(resp, q)
		}
		return resp
	}
	q.client = routing.Client{Addr: q.resolver, SourceBits: -1}
	if q.subnet != nil && q.subnet.Routable() {
		q.client = routing.Client{Addr: q.subnet.Addr, SourceBits: int(q.subnet.SourceBits)}
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
	default:
		h.question(q, req.Question[0], resp)
	}
	if edns != nil {
		h.setOPT(resp, q)
	}
	if q.transport == UDP {
		var size uint16
		if edns != nil {
			size = edns.size
		}
		truncate(resp, h.udpLimit(edns != nil, size))
	}
	return resp
}

// udpLimit is the largest UDP reply to a query: 512 bytes without EDNS,
// else the requestor's payload size (size) up to ours.
func (h *Handler) udpLimit(edns bool, size uint16) int {
	if !edns {
		return dns.MinMsgSize
	}
	return max(dns.MinMsgSize, int(min(size, h.opts.UDPSize)))
}

// useECS reports whether Client Subnet options from resolver are used:
// ECS is on and the resolver is trusted with it.
func (h *Handler) useECS(resolver netip.Addr) bool {
	if !h.opts.ECS {
		return false
	}
	if len(h.opts.ECSResolvers) == 0 {
		return true
	}
	resolver = resolver.Unmap()
	for _, p := range h.opts.ECSResolvers {
		if p.Contains(resolver) {
			return true
		}
	}
	return false
}

// clientSubnet reads the query's Client Subnet option into q.subnet. A
// malformed option is FORMERR (RFC 7871 section 7.1.1).
func (h *Handler) clientSubnet(q *request) int {
	data, ok := ecs.Find(q.wire)
	if !ok {
		return dns.RcodeSuccess
	}
	s, err := ecs.Parse(data)
	if err != nil {
		return dns.RcodeFormatError
	}
	q.subnet = &s
	return dns.RcodeSuccess
}

// question fills resp with the answer to the question.
func (h *Handler) question(q *request, question dns.Question, resp *dns.Msg) {
	switch question.Qclass {
	case dns.ClassINET:
	case dns.ClassCHAOS:
		h.chaos(question, resp)
		return
	default:
		resp.Rcode = dns.RcodeRefused
		return
	}
	switch question.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		resp.Rcode = dns.RcodeRefused
		return
	case dns.TypeOPT, dns.TypeNone:
		resp.Rcode = dns.RcodeFormatError
		return
	case dns.TypeTKEY, dns.TypeTSIG, dns.TypeMAILA, dns.TypeMAILB:
		resp.Rcode = dns.RcodeNotImplemented
		return
	}
	snap := h.zones.Load()
	if snap == nil {
		resp.Rcode = dns.RcodeServerFailure
		return
	}
	if h.explainQuery(q, snap, question, resp) {
		return
	}
	res := snap.Lookup(question.Name, question.Qtype)
	if res.Zone != nil {
		q.zone = res.Zone.Origin
	}
	q.snap = snap
	q.static = res.Service == nil
	q.direct = res.Service != nil && len(res.Answer) == 0 && !hasCNAME(res.Service)
	q.service = res.Service
	resp.Rcode = res.Rcode
	resp.Authoritative = res.Authoritative
	resp.Answer = res.Answer
	resp.Ns = res.Ns
	resp.Extra = dedup(res.Extra)
	if res.Service != nil {
		h.service(q, res, question.Qtype, resp)
	}
}

// service appends a service's answer for this client to resp.
func (h *Handler) service(q *request, res zones.Result, qtype uint16, resp *dns.Msg) {
	if qtype == dns.TypeANY {
		qtype = dns.TypeA
	}
	s := res.Service
	var d routing.Decision
	if q.decided != nil {
		d = *q.decided
	} else {
		d = h.router.Decide(s, qtype, q.client, false)
	}
	h.observeService(s, &d)
	if d.NoData {
		resp.Ns = append(resp.Ns, s.Zone.NegativeSOA())
		return
	}
	resp.Answer = append(resp.Answer, d.Records(res.ServiceOwner, qtype)...)
	q.scope = d.Scope
	q.region = d.Region.Name
}

// hasCNAME reports whether a service answers a CNAME from some endpoint;
// such answers are left to the full path.
func hasCNAME(s *zones.Service) bool {
	for _, ep := range s.Endpoints {
		if ep.CNAME != "" {
			return true
		}
	}
	for _, ep := range s.FallbackAddresses {
		if ep.CNAME != "" {
			return true
		}
	}
	return false
}

// observeService counts a service decision in the metrics.
func (h *Handler) observeService(s *zones.Service, d *routing.Decision) {
	m := h.Metrics
	if m == nil {
		return
	}
	if d.AllDown {
		m.ServeAll.WithLabelValues(s.Name, s.AllDown.String()).Inc()
	}
	if d.Region == nil {
		return
	}
	m.GeoAnswers.WithLabelValues(s.Zone.Origin, s.Name, d.Region.Name).Inc()
	if d.Preferred != nil && d.Preferred != d.Region {
		m.Failovers.WithLabelValues(s.Name, d.Preferred.Name, d.Region.Name).Inc()
	}
}

// explainQuery answers _explain.<service> TXT from the debug networks with
// the routing decision for the asking client, and reports whether it did.
// Everyone else is answered as if the name did not exist.
func (h *Handler) explainQuery(q *request, snap *zones.Snapshot, question dns.Question, resp *dns.Msg) bool {
	const prefix = "_explain."
	if len(question.Name) <= len(prefix) || !strings.EqualFold(question.Name[:len(prefix)], prefix) || question.Qtype != dns.TypeTXT {
		return false
	}
	allowed := false
	for _, p := range h.opts.DebugNetworks {
		if p.Contains(q.resolver) {
			allowed = true
			break
		}
	}
	if !allowed {
		return false
	}
	res := snap.Lookup(question.Name[len(prefix):], dns.TypeA)
	if res.Service == nil {
		return false
	}
	var lines []string
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		d := h.router.Decide(res.Service, qt, q.client, true)
		lines = append(lines, routing.Explain(res.Service, qt, q.client, d)...)
	}
	resp.Authoritative = true
	for _, line := range lines {
		resp.Answer = append(resp.Answer, &dns.TXT{
			Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET},
			Txt: splitTXT(line),
		})
	}
	return true
}

// splitTXT cuts s into character-strings of at most 255 bytes.
func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}

// dedup removes repeated records (the same shared record added twice by
// additional-section processing).
func dedup(rrs []dns.RR) []dns.RR {
	if len(rrs) < 2 {
		return rrs
	}
	out := rrs[:0:0]
	for _, rr := range rrs {
		dup := false
		for _, o := range out {
			if o == rr {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, rr)
		}
	}
	return out
}

// chaos answers the conventional server-identification names in class CH
// (version.bind, id.server, ...) when enabled, and refuses everything else.
func (h *Handler) chaos(q dns.Question, resp *dns.Msg) {
	var txt string
	switch strings.ToLower(q.Name) {
	case "version.bind.", "version.server.":
		txt = h.opts.Version
	case "id.server.", "hostname.bind.":
		txt = h.opts.ServerID
	}
	if !h.opts.Chaos || txt == "" || (q.Qtype != dns.TypeTXT && q.Qtype != dns.TypeANY) {
		resp.Rcode = dns.RcodeRefused
		return
	}
	resp.Authoritative = true
	resp.Answer = []dns.RR{&dns.TXT{
		Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS},
		Txt: []string{txt},
	}}
}

// ednsInfo is what we need from a query's OPT record.
type ednsInfo struct {
	size uint16
	do   bool
	nsid bool
}

// parseEDNS checks the query's OPT record (RFC 6891 section 6.1.1): at most
// one, in the additional section, owned by the root. It returns nil when the
// query has no EDNS, and an rcode other than success when the query must be
// refused with it (FORMERR or BADVERS).
func parseEDNS(req *dns.Msg) (*ednsInfo, int) {
	for _, rr := range req.Answer {
		if rr.Header().Rrtype == dns.TypeOPT {
			return nil, dns.RcodeFormatError
		}
	}
	for _, rr := range req.Ns {
		if rr.Header().Rrtype == dns.TypeOPT {
			return nil, dns.RcodeFormatError
		}
	}
	var opt *dns.OPT
	for _, rr := range req.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			if opt != nil || o.Hdr.Name != "." {
				return nil, dns.RcodeFormatError
			}
			opt = o
		}
	}
	if opt == nil {
		return nil, dns.RcodeSuccess
	}
	info := &ednsInfo{size: max(opt.UDPSize(), dns.MinMsgSize), do: opt.Do()}
	for _, o := range opt.Option {
		if o.Option() == dns.EDNS0NSID {
			info.nsid = true
		}
	}
	if opt.Version() != 0 {
		return info, dns.RcodeBadVers
	}
	return info, dns.RcodeSuccess
}

// setOPT adds our OPT record to a reply to an EDNS query. The extended
// rcode bits of resp.Rcode are carried by the OPT record. A Client Subnet
// option is echoed with the scope the answer holds for (RFC 7871 7.2.1).
func (h *Handler) setOPT(resp *dns.Msg, q *request) {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(h.opts.UDPSize)
	if q.edns.do {
		opt.SetDo()
	}
	if q.edns.nsid && h.nsid != "" {
		opt.Option = append(opt.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: h.nsid})
	}
	if q.subnet != nil {
		opt.Option = append(opt.Option, q.subnet.Option(uint8(q.scope)))
	}
	resp.Extra = append(resp.Extra, opt)
}

// truncate makes resp fit in limit bytes for UDP. Additional records that
// do not fit are dropped (RFC 2181 section 9: no TC for those); when answer
// or authority RRsets must go, whole RRsets are removed and TC is set, so
// the client retries over TCP.
func truncate(resp *dns.Msg, limit int) {
	if resp.Len() <= limit {
		return
	}
	var extra []dns.RR
	resp.Extra, extra = splitOPT(resp.Extra)
	// A referral without the glue it needs is useless: RFC 9471 asks for TC.
	referral := !resp.Authoritative && len(resp.Answer) == 0 && len(extra) > 0
	if resp.Len() > limit {
		resp.Truncated = true
		resp.Answer = keepRRsets(resp, &resp.Answer, limit)
		resp.Ns = keepRRsets(resp, &resp.Ns, limit)
		return
	}
	for _, set := range rrsets(extra) {
		resp.Extra = append(resp.Extra, set...)
		if resp.Len() > limit {
			resp.Extra = resp.Extra[:len(resp.Extra)-len(set)]
			if referral {
				resp.Truncated = true
			}
		}
	}
}

// splitOPT separates the OPT record of an additional section from the
// other records; a reply cut down for size keeps its OPT.
func splitOPT(rrs []dns.RR) (opt, rest []dns.RR) {
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			opt = append(opt, rr)
		} else {
			rest = append(rest, rr)
		}
	}
	return opt, rest
}

// keepRRsets trims *section to the whole RRsets that fit in limit, given
// the rest of resp.
func keepRRsets(resp *dns.Msg, section *[]dns.RR, limit int) []dns.RR {
	all := *section
	*section = nil
	var kept []dns.RR
	for _, set := range rrsets(all) {
		*section = append(kept, set...)
		if resp.Len() > limit {
			*section = kept
			break
		}
		kept = *section
	}
	return kept
}

// rrsets splits records into runs of the same owner, class and type.
func rrsets(rrs []dns.RR) [][]dns.RR {
	var out [][]dns.RR
	for i := 0; i < len(rrs); {
		j := i + 1
		for j < len(rrs) && sameSet(rrs[i], rrs[j]) {
			j++
		}
		out = append(out, rrs[i:j])
		i = j
	}
	return out
}

func sameSet(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	return ha.Rrtype == hb.Rrtype && ha.Class == hb.Class && strings.EqualFold(ha.Name, hb.Name)
}
