package server

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dns/rrl"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// Finishing: the one step every reply goes through, whichever path made
// it: our OPT record, response rate limiting, metrics and the query log.

// outcome is what finishing a reply needs to know of it, besides its
// bytes and its answer's meta. (Neither is a field: the bytes are returned
// and the meta's metric series escape, and either would take the query's
// EDNS, which an outcome points to, with it.)
type outcome struct {
	// rcode is the reply's rcode, with the extended bits our OPT carries.
	rcode int
	// edns is what the query's OPT record asked; nil without one, and then
	// the reply has no OPT either. scope is the ECS scope to echo.
	edns  *ednsInfo
	scope uint8
	// region is the region that answered a service query, if any.
	region *zones.Region
	// cached is set for a reply replayed from the answer cache.
	cached bool
	// log says whether the query log may record the reply (it has one
	// question): name is the question's name, or empty to take it from
	// the question's wire form.
	log      bool
	name     string
	question []byte
}

// finish completes a reply, body (without our OPT record) described by o
// and meta, and returns the reply to send, or nil when response rate
// limiting drops it.
func (h *Handler) finish(body []byte, o *outcome, meta *answerMeta, resolver netip.Addr, t Transport, start time.Time) []byte {
	out := body
	if o.edns != nil {
		out = h.appendOPT(out, o.edns, o.rcode, o.scope)
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	}
	if h.RRL != nil && t == UDP {
		switch h.RRL.Decide(resolver, rrlCategory(o.rcode), meta.rrl, start) {
		case rrl.Drop:
			h.observeDropped(meta, o.cached, t)
			return nil
		case rrl.Slip:
			if h.Metrics != nil {
				h.Metrics.RRLSlipped().Inc()
			}
			out = slip(out, h.optLen(o.edns))
		}
	}
	h.observe(o, meta, t, out)
	if o.log && h.logQuery() {
		h.logReply(o, meta.qtype, resolver, t, out, start)
	}
	return out
}

// errorReply answers a query that has no parsed message to answer from (it
// did not unpack, or answering it failed) with a bare header and rcode,
// finished like every other reply.
func (h *Handler) errorReply(query []byte, resolver netip.Addr, t Transport, rcode int, start time.Time) []byte {
	o := outcome{rcode: rcode}
	meta := &answerMeta{qtypeLabel: "none", rcode: rcode, rrl: rrlResponse(rrl.Error, "", 0, "")}
	return h.finish(headerOnly(query, rcode), &o, meta, resolver, t, start)
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

// slip cuts a reply down to what response rate limiting's slip sends: the
// header with TC, the question, and our OPT record (its last optLen
// bytes), so that a real client retries over TCP.
func slip(out []byte, optLen int) []byte {
	end := questionEnd(out)
	opt := out[len(out)-optLen:]
	out[2] |= 0x02
	binary.BigEndian.PutUint16(out[6:], 0)
	binary.BigEndian.PutUint16(out[8:], 0)
	binary.BigEndian.PutUint16(out[10:], 0)
	if optLen > 0 {
		out[11] = 1
	}
	return append(out[:end], opt...) // opt lies after end: copy forward is safe
}

// questionEnd returns the offset after a reply's question section: our
// replies have at most one question, its name never compressed.
func questionEnd(out []byte) int {
	if binary.BigEndian.Uint16(out[4:]) == 0 {
		return headerLen
	}
	off := headerLen
	for off < len(out) && out[off] != 0 {
		if out[off]&0xc0 == 0xc0 {
			return off + 2 + 4
		}
		off += 1 + int(out[off])
	}
	return off + 1 + 4
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

// rrlResponse identifies a reply of category cat within a client network's
// rate-limiting budgets: the question (name in lower case, and type) for
// answers, the zone for NXDOMAIN, so that a flood of random names shares one
// budget, and nothing for errors.
func rrlResponse(cat rrl.Category, qname string, qtype uint16, zone string) rrl.Response {
	switch cat {
	case rrl.Answer:
		return rrl.Identify(strings.ToLower(qname) + "/" + strconv.Itoa(int(qtype)))
	case rrl.NXDomain:
		return rrl.Identify(strings.ToLower(zone))
	}
	return rrl.Identify("")
}

// observe counts a reply sent.
func (h *Handler) observe(o *outcome, meta *answerMeta, t Transport, out []byte) {
	m := h.Metrics
	if m == nil {
		return
	}
	s := meta.seriesFor(h)
	s.query(meta, t).Inc()
	s.response(meta).Inc()
	if o.cached {
		m.FastAnswers.Inc()
	}
	if out[2]&0x02 != 0 {
		m.Truncated.Inc()
	}
	if o.edns != nil && o.edns.hasSubnet {
		m.ECSQueries.Inc()
	}
}

// observeDropped counts a query whose reply rate limiting dropped: it was
// received, but nothing was sent.
func (h *Handler) observeDropped(meta *answerMeta, cached bool, t Transport) {
	m := h.Metrics
	if m == nil {
		return
	}
	m.RRLDropped().Inc()
	meta.seriesFor(h).query(meta, t).Inc()
	if cached {
		m.FastAnswers.Inc()
	}
}

// observeDecision counts a service's routing decision.
func (h *Handler) observeDecision(meta *answerMeta, s *zones.Service, d *routing.Decision) {
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
	meta.seriesFor(h).geoAnswer(meta, d.Region).Inc()
	if d.Preferred != nil && d.Preferred != d.Region {
		m.Failovers.WithLabelValues(s.Name, d.Preferred.Name, d.Region.Name).Inc()
	}
}

// logReply offers the query log an entry for a reply sent.
func (h *Handler) logReply(o *outcome, qtype uint16, resolver netip.Addr, t Transport, out []byte, start time.Time) {
	// A copy, so that the outcome, which points into the query, does not
	// escape with the entry.
	name := strings.Clone(o.name)
	if name == "" {
		name = string(appendName(nil, o.question))
	}
	e := QueryLogEntry{Client: resolver, Name: name, Type: qtype, Transport: t, Rcode: o.rcode,
		Answers: int(binary.BigEndian.Uint16(out[6:])), Duration: time.Since(start)}
	if o.edns != nil && o.edns.hasSubnet {
		e.ECS = o.edns.subnet.Prefix()
	}
	if o.region != nil {
		e.Region = o.region.Name
	}
	h.QueryLog.Log(e)
}
