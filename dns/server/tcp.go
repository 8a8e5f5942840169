package server

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// How TCP is served (RFC 7766).
//
// Each connection has a reader (readQueries), a writer (writeReplies) and
// at most TCPMaxInFlight goroutines answering its queries. A query holds
// one of the connection's slots from the moment it is read until its reply
// has been written or dropped; while every slot is taken the reader reads
// nothing more, so the queries of a client that pipelines without reading
// wait in the kernel, not in goroutines or memory of ours. Replies reach
// the writer through a channel with room for every slot, so answering
// never waits for the network. The writer gives each reply TCPWriteTimeout
// to go into the connection's send buffer, which is kept small
// (tcpSendBuffer) so that a client that stops reading is noticed soon; when
// a reply does not go in time, the client is not reading and the
// connection is closed. Every goroutine of a connection ends with it.
//
// At TCPMaxConns a new connection takes the place of the one that has made
// no progress for longest (RFC 7766 section 6.2.3): no query being
// answered and no complete query read for the longest time, or a reply
// waiting for the client to read for over stallGrace. A connection whose
// queries are being answered is never cut. A message trickled in byte by
// byte needs no deadline of its own: the read deadline set before its
// length covers it whole (TCPIdleTimeout), and the connection counts as
// idle since its last complete query, so it is among the first reclaimed.

// tcpSendBuffer is SO_SNDBUF of accepted TCP connections (the kernel
// doubles it): room for one reply of the largest size, or hundreds of
// ordinary ones. Left alone, the kernel grows it to megabytes
// (net.ipv4.tcp_wmem) for a client that does not read, which then holds
// that much memory and takes that much longer to be noticed.
const tcpSendBuffer = 64 << 10

// stallGrace is how long a reply must have waited to be written before its
// connection counts as stalled: a client reading at all empties its window
// sooner.
const stallGrace = time.Second

// Why a TCP connection was closed or refused: the reason label of
// meridian_tcp_connections_closed_total.
const (
	closedClient      = "client"       // the client closed it, or it failed
	closedIdle        = "idle"         // no complete query within TCPIdleTimeout
	closedStalled     = "stalled"      // a reply did not go out within TCPWriteTimeout
	closedReclaimed   = "reclaimed"    // closed at TCPMaxConns to admit a new one
	closedLimit       = "limit"        // refused: TCPMaxConns, none idle or stalled
	closedClientLimit = "client_limit" // refused: TCPMaxConnsPerIP for its network
	closedMalformed   = "malformed"    // a message of length 0
	closedShutdown    = "shutdown"     // the server is shutting down
)

// tcpConn is one admitted TCP connection.
type tcpConn struct {
	*net.TCPConn
	client  netip.Addr   // unmapped
	network netip.Prefix // the client's network, counted against TCPMaxConnsPerIP

	// lastQuery is when the last complete query was read, or the
	// connection accepted (Server.clock).
	lastQuery atomic.Int64
	// pending counts the queries read whose replies are neither written
	// nor dropped.
	pending atomic.Int32
	// writing is when the write in progress began, 0 between writes.
	writing atomic.Int64

	once   sync.Once
	done   chan struct{} // closed when the connection is
	reason string        // why it was closed; set once, by shut
}

// shut closes the connection for reason, unless it is closed already: the
// first reason stands.
func (c *tcpConn) shut(reason string) {
	c.once.Do(func() {
		c.reason = reason
		close(c.done)
		c.TCPConn.Close()
	})
}

// clock returns the time since the server was made, on the monotonic
// clock, in nanoseconds; never 0.
func (s *Server) clock() int64 { return int64(time.Since(s.epoch)) + 1 }

// clientNetwork returns the network a client address counts in for
// TCPMaxConnsPerIP; an IPv4-mapped IPv6 address counts as IPv4.
func (s *Server) clientNetwork(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := s.cfg.TCPClientPrefixV6
	if a.Is4() {
		bits = s.cfg.TCPClientPrefixV4
	}
	p, _ := a.WithZone("").Prefix(bits)
	return p
}

func (s *Server) serveTCP(l *net.TCPListener) {
	defer s.wg.Done()
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if s.isClosing() || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		tc, refused := s.admit(c)
		if tc == nil {
			c.Close()
			s.countClosed(refused)
			continue
		}
		s.wg.Add(1)
		go s.serveConn(tc)
	}
}

// admit registers a new connection within the connection limits, closing
// the connection idle or stalled longest to make room at TCPMaxConns. It
// returns nil and the reason when the connection is refused.
func (s *Server) admit(c *net.TCPConn) (*tcpConn, string) {
	client := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	tc := &tcpConn{TCPConn: c, client: client, network: s.clientNetwork(client), done: make(chan struct{})}
	now := s.clock()
	tc.lastQuery.Store(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, closedShutdown
	case s.perNetwork[tc.network] >= s.cfg.TCPMaxConnsPerIP:
		return nil, closedClientLimit
	case len(s.conns) >= s.cfg.TCPMaxConns:
		victim := s.longestIdle(now)
		if victim == nil {
			return nil, closedLimit
		}
		s.forget(victim)
		victim.shut(closedReclaimed)
	}
	s.conns[tc] = struct{}{}
	s.perNetwork[tc.network]++
	if m := s.handler.Metrics; m != nil {
		m.TCPConnections.Inc()
	}
	return tc, ""
}

// longestIdle returns the connection that has gone longest without
// progress, nil when every connection is busy: a connection with a query
// being answered counts only when its writer has waited over stallGrace
// for the client to read, and then since its write began; any other since
// its last complete query. The caller holds s.mu.
func (s *Server) longestIdle(now int64) *tcpConn {
	var (
		victim *tcpConn
		since  int64
	)
	for c := range s.conns {
		t := c.lastQuery.Load()
		if c.pending.Load() > 0 {
			w := c.writing.Load()
			if w == 0 || now-w < int64(stallGrace) {
				continue
			}
			t = w
		}
		if victim == nil || t < since {
			victim, since = c, t
		}
	}
	return victim
}

// forget removes c from the connections counted against the limits, if it
// is still there. The caller holds s.mu.
func (s *Server) forget(c *tcpConn) {
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.perNetwork[c.network]--; s.perNetwork[c.network] <= 0 {
		delete(s.perNetwork, c.network)
	}
	if m := s.handler.Metrics; m != nil {
		m.TCPConnections.Dec()
	}
}

// countClosed counts a connection closed or refused for reason.
func (s *Server) countClosed(reason string) {
	if m := s.handler.Metrics; m != nil {
		m.TCPClosed.WithLabelValues(reason).Inc()
	}
}

// serveConn serves one TCP connection until it ends, then waits for every
// goroutine of the connection and releases its place.
func (s *Server) serveConn(c *tcpConn) {
	defer s.wg.Done()
	var (
		slots    = make(chan struct{}, s.cfg.TCPMaxInFlight)
		replies  = make(chan []byte, s.cfg.TCPMaxInFlight)
		written  = make(chan struct{})
		inflight sync.WaitGroup
	)
	go func() {
		defer close(written)
		s.writeReplies(c, replies, slots)
	}()
	reason := s.readQueries(c, slots, replies, &inflight)
	// Replies to the queries already read still go out, unless the
	// connection is closed already.
	inflight.Wait()
	close(replies)
	<-written
	c.shut(reason)
	s.countClosed(c.reason)
	s.mu.Lock()
	s.forget(c)
	s.mu.Unlock()
}

// readQueries reads length-prefixed queries from c and starts answering
// each in a goroutine of its own, so that pipelined queries are not
// serialised behind each other (replies may leave out of order). It
// returns why it stopped: the client closed the connection, it was idle,
// a message of length 0, the server is shutting down, or c was closed
// (whoever closed it gave the reason).
func (s *Server) readQueries(c *tcpConn, slots chan struct{}, replies chan<- []byte, inflight *sync.WaitGroup) string {
	var lenbuf [2]byte
	for {
		// One deadline for the length and the message: trickling a message
		// in buys no more time than sending nothing.
		c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		// Shutdown sets every deadline to now after it closes s.shutdown:
		// the reader sees the one or the other.
		if s.isClosing() {
			return closedShutdown
		}
		if _, err := io.ReadFull(c, lenbuf[:]); err != nil {
			return s.readFailed(err)
		}
		n := int(binary.BigEndian.Uint16(lenbuf[:]))
		if n == 0 {
			return closedMalformed
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return s.readFailed(err)
		}
		c.lastQuery.Store(s.clock())
		if s.isClosing() {
			return closedShutdown
		}
		select {
		case slots <- struct{}{}:
		case <-c.done:
			return closedClient
		case <-s.shutdown:
			return closedShutdown
		}
		c.pending.Add(1)
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			reply := s.handler.Serve(msg, c.client, TCP, nil)
			if reply == nil {
				c.pending.Add(-1)
				<-slots
				return
			}
			framed := make([]byte, 2+len(reply))
			binary.BigEndian.PutUint16(framed, uint16(len(reply)))
			copy(framed[2:], reply)
			replies <- framed // never waits: there is room for every slot
		}()
	}
}

// readFailed returns why a read from a connection failed.
func (s *Server) readFailed(err error) string {
	switch {
	case s.isClosing():
		return closedShutdown
	case errors.Is(err, os.ErrDeadlineExceeded):
		return closedIdle
	}
	return closedClient
}

// writeReplies writes c's replies as they come, each within
// TCPWriteTimeout. A reply that does not go out in time means the client
// has stopped reading: the connection is closed and the replies after it
// are dropped. Every reply written or dropped frees its slot.
func (s *Server) writeReplies(c *tcpConn, replies <-chan []byte, slots <-chan struct{}) {
	for b := range replies {
		select {
		case <-c.done:
		default:
			c.writing.Store(s.clock())
			c.SetWriteDeadline(time.Now().Add(s.cfg.TCPWriteTimeout))
			_, err := c.Write(b)
			c.writing.Store(0)
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				c.shut(closedStalled)
			case err != nil:
				c.shut(closedClient)
			}
		}
		c.pending.Add(-1)
		<-slots
	}
}
