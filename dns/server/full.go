package server

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// The full path: every rule that shapes an answer lives here. It unpacks
// the query with miekg/dns, checks it (opcode, question count, class,
// type, EDNS, Client Subnet), looks the question up in the view's
// snapshot, routes a service, builds the reply and packs it without our
// OPT record; finish does the rest. The answer cache only replays what
// this path produced (cache.go).

// request is the per-query state of the full path.
type request struct {
	msg       *dns.Msg
	wire      []byte
	resolver  netip.Addr
	transport Transport
	// view is what the query sees: its snapshot and answer cache.
	view view
	// edns is what the query's OPT record asked, nil without one; scope is
	// the ECS scope the reply echoes.
	edns  *ednsInfo
	scope int
	// client is who the answer is for: the Client Subnet when usable,
	// else the resolver.
	client routing.Client
	// zone is the apex of the zone that answered ("" when none did) and
	// region the region that answered a service query.
	zone   string
	region *zones.Region
	// decided is a routing decision already made for this query, on the
	// same view; decision is the one the answer used.
	decided  *routing.Decision
	decision *routing.Decision
	// meta collects what finishing and counting the reply need.
	meta *answerMeta
	// cacheable is what the answer cache may keep of the answer, and
	// signed is set when it comes from a signed zone.
	cacheable cacheable
	signed    bool
}

// cacheable says what the answer cache may keep of an answer.
type cacheable uint8

const (
	// notCacheable: answered per query (errors, _explain, CNAME services).
	notCacheable cacheable = iota
	// staticAnswer: from zone data alone, the same for every client.
	staticAnswer
	// serviceAnswer: a question naming a service itself, answered with
	// its addresses for each client.
	serviceAnswer
)

// full answers a query through the full pipeline. pq, when set, is the
// query as read plain, which had no cached answer: the answer is then
// remembered. decided is a routing decision already made for it.
func (h *Handler) full(v *view, query []byte, resolver netip.Addr, t Transport, buf []byte, start time.Time, pq *plainQuery, decided *routing.Decision) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(query); err != nil || !backwardPointers(query) {
		return h.errorReply(query, resolver, t, dns.RcodeFormatError, start)
	}
	q := &request{msg: req, wire: query, resolver: resolver, transport: t, view: *v, decided: decided, meta: &answerMeta{}}
	resp := h.answer(q)
	rcode := resp.Rcode
	resp.Rcode &= 0xf // the extended bits travel in our OPT record
	body, err := resp.PackBuffer(buf)
	if err != nil {
		h.logger.Error("packing reply", "error", err)
		return h.errorReply(query, resolver, t, dns.RcodeServerFailure, start)
	}
	q.meta.fill(q, rcode)
	if pq != nil {
		h.remember(v, pq, q, resp, body)
	}
	o := outcome{rcode: rcode, edns: q.edns, scope: uint8(q.scope), region: q.region, log: len(req.Question) == 1}
	if o.log {
		o.name = req.Question[0].Name
	}
	return h.finish(body, &o, q.meta, resolver, t, start)
}

// answer builds the reply to a parsed query, without our OPT record.
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
		rcode = clientSubnet(q.wire, edns)
	}
	if rcode != dns.RcodeSuccess {
		// BADVERS, or a malformed option in a valid OPT: answered with
		// our OPT (RFC 6891 section 7), without echoing the option.
		resp.Rcode = rcode
		return resp
	}
	q.client = routing.Client{Addr: q.resolver, SourceBits: -1}
	if edns != nil && edns.hasSubnet && edns.subnet.Routable() {
		q.client = routing.Client{Addr: edns.subnet.Addr, SourceBits: int(edns.subnet.SourceBits)}
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
	default:
		h.question(q, req.Question[0], resp)
	}
	if q.transport == UDP {
		truncate(resp, h.udpLimit(edns)-h.optLen(edns))
	}
	return resp
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
	case dns.TypeOPT, dns.TypeNone, dns.TypeNXNAME:
		// NXNAME only ever appears in denial of existence (RFC 9824).
		resp.Rcode = dns.RcodeFormatError
		return
	case dns.TypeTKEY, dns.TypeTSIG, dns.TypeMAILA, dns.TypeMAILB:
		resp.Rcode = dns.RcodeNotImplemented
		return
	}
	snap := q.view.snap
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
	switch {
	case res.Service == nil:
		q.cacheable = staticAnswer
	case len(res.Answer) == 0 && !hasCNAME(res.Service):
		q.cacheable = serviceAnswer
	}
	resp.Rcode = res.Rcode
	resp.Authoritative = res.Authoritative
	resp.Answer = res.Answer
	resp.Ns = res.Ns
	resp.Extra = dedup(res.Extra)
	if res.Service != nil {
		h.service(q, res, question.Qtype, resp)
	}
	if res.Zone != nil && res.Zone.Signed() {
		q.signed = true
		if q.edns != nil && q.edns.do {
			h.signAnswer(q, res.Zone, lastName(question.Name, resp.Answer), resp)
		}
	}
}

// lastName is the name an answer ends at: qname, or the target of the
// CNAME chain that starts there.
func lastName(qname string, answer []dns.RR) string {
	name := qname
	for _, rr := range answer {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
			name = c.Target
		}
	}
	return name
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
	q.meta.service = s
	q.decision = &d
	h.observeDecision(q.meta, s, &d)
	if d.NoData {
		resp.Ns = append(resp.Ns, s.Zone.NegativeSOA())
		return
	}
	resp.Answer = append(resp.Answer, d.Records(res.ServiceOwner, qtype)...)
	q.scope = d.Scope
	q.region = d.Region
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

// truncate makes resp (without our OPT record, whose room the caller took
// off limit) fit in limit bytes for UDP. Additional records that
// do not fit are dropped (RFC 2181 section 9: no TC for those); when answer
// or authority RRsets must go, whole RRsets are removed and TC is set, so
// the client retries over TCP.
func truncate(resp *dns.Msg, limit int) {
	if resp.Len() <= limit {
		return
	}
	extra := resp.Extra
	resp.Extra = nil
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

// rrsets splits records into runs of the same owner, class and type, each
// with the RRSIGs that follow it and cover it, so that truncation keeps or
// drops an RRset together with its signatures.
func rrsets(rrs []dns.RR) [][]dns.RR {
	var out [][]dns.RR
	for i := 0; i < len(rrs); {
		j := i + 1
		for j < len(rrs) && (sameSet(rrs[i], rrs[j]) || covers(rrs[j], rrs[i])) {
			j++
		}
		out = append(out, rrs[i:j])
		i = j
	}
	return out
}

// covers reports whether sig is an RRSIG over the RRset of rr.
func covers(sig, rr dns.RR) bool {
	s, ok := sig.(*dns.RRSIG)
	return ok && s.TypeCovered == rr.Header().Rrtype && strings.EqualFold(s.Hdr.Name, rr.Header().Name)
}

func sameSet(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	return ha.Rrtype == hb.Rrtype && ha.Class == hb.Class && strings.EqualFold(ha.Name, hb.Name)
}
