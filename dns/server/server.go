package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config holds the listener settings of a Server.
type Config struct {
	// Listen is the list of addresses ("127.0.0.1:5353", "[::1]:53") served
	// over both UDP and TCP.
	Listen []string
	// UDPSockets is how many SO_REUSEPORT sockets (each with its own reader)
	// serve each UDP address; 0 means one per CPU.
	UDPSockets int
	// TCPIdleTimeout closes a TCP connection with no query for this long
	// (RFC 7766 section 6.2.3); a message must arrive whole within it.
	// Default 10s.
	TCPIdleTimeout time.Duration
	// TCPWriteTimeout closes a TCP connection whose reply could not be
	// written for this long: the client is not reading. Default 5s.
	TCPWriteTimeout time.Duration
	// TCPMaxConns bounds concurrent TCP connections overall; at the limit
	// a new connection replaces the one idle or stalled longest. Default
	// 1000.
	TCPMaxConns int
	// TCPMaxConnsPerIP bounds concurrent TCP connections from one client
	// network (TCPClientPrefixV4, TCPClientPrefixV6); default 32.
	TCPMaxConnsPerIP int
	// TCPClientPrefixV4 and TCPClientPrefixV6 are the prefix lengths of a
	// client network for TCPMaxConnsPerIP; default 24 and 56.
	TCPClientPrefixV4, TCPClientPrefixV6 int
	// TCPMaxInFlight bounds the queries of one connection being answered or
	// waiting for their reply to be written (pipelining); default 16.
	TCPMaxInFlight int
}

func (c *Config) setDefaults() {
	if c.UDPSockets <= 0 {
		c.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = 10 * time.Second
	}
	if c.TCPWriteTimeout <= 0 {
		c.TCPWriteTimeout = 5 * time.Second
	}
	if c.TCPMaxConns <= 0 {
		c.TCPMaxConns = 1000
	}
	if c.TCPMaxConnsPerIP <= 0 {
		c.TCPMaxConnsPerIP = 32
	}
	if c.TCPClientPrefixV4 <= 0 || c.TCPClientPrefixV4 > 32 {
		c.TCPClientPrefixV4 = 24
	}
	if c.TCPClientPrefixV6 <= 0 || c.TCPClientPrefixV6 > 128 {
		c.TCPClientPrefixV6 = 56
	}
	if c.TCPMaxInFlight <= 0 {
		c.TCPMaxInFlight = 16
	}
}

// Server moves DNS messages between the network and a Handler.
type Server struct {
	cfg     Config
	handler *Handler
	logger  *slog.Logger

	udp     []*net.UDPConn // bound, until startUDP hands them to readers
	readers []*udpReader
	tcp     []*net.TCPListener
	addr    []netip.AddrPort

	epoch      time.Time // the origin of clock
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      map[*tcpConn]struct{}
	perNetwork map[netip.Prefix]int
	closing    bool
	shutdown   chan struct{}
}

// New returns a server; call Start to listen.
func New(cfg Config, h *Handler, logger *slog.Logger) *Server {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	return &Server{
		cfg: cfg, handler: h, logger: logger, epoch: time.Now(),
		conns: make(map[*tcpConn]struct{}), perNetwork: make(map[netip.Prefix]int),
		shutdown: make(chan struct{}),
	}
}

// Start binds every listen address over UDP and TCP and starts serving. An
// address with port 0 gets one free port shared by UDP and TCP. When Start
// returns nil the server is answering queries.
func (s *Server) Start() error {
	for _, a := range s.cfg.Listen {
		if err := s.listen(a); err != nil {
			s.closeListeners()
			return err
		}
	}
	if err := s.startUDP(); err != nil {
		s.closeListeners()
		return fmt.Errorf("udp: %w", err)
	}
	for _, l := range s.tcp {
		s.wg.Add(1)
		go s.serveTCP(l)
	}
	return nil
}

// ReaderProcs is how many Ps (threads running Go code) the server's UDP
// readers hold while it serves: one per UDP socket on Linux, where a
// reader sleeps in recvmmsg, none elsewhere. A program should run with
// that many more than it otherwise would (GOMAXPROCS), so that its other
// work, the garbage collector's included, keeps the Ps it had.
func (s *Server) ReaderProcs() int {
	if !readersHoldProcs {
		return 0
	}
	return s.cfg.UDPSockets * len(s.cfg.Listen)
}

// Addrs returns the bound addresses, one per configured listen address.
func (s *Server) Addrs() []netip.AddrPort { return s.addr }

// udpReceiveBuffer is the receive buffer asked for UDP sockets: room for
// a few thousand queries, so a moment's pause of the reader (the machine
// running something else on its core) loses nothing. The kernel caps it
// at net.core.rmem_max (Debian's default is 208 KiB; see docs/operations.md).
const udpReceiveBuffer = 4 << 20

// udpSocketOptions sets the options of a UDP socket about to be bound:
// SO_REUSEPORT, so that the address's sockets (one per reader) can share
// it, the larger receive buffer and the platform's fragmentation settings.
func (s *Server) udpSocketOptions(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, udpReceiveBuffer)
		}
		if serr == nil {
			serr = fragmentation(int(fd), int(s.handler.opts.UDPSize))
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// tcpSocketOptions sets the send buffer of a TCP listener, which the
// connections it accepts inherit (tcpSendBuffer). There is no
// SO_REUSEPORT: one listener serves an address, and another program
// cannot join it.
func tcpSocketOptions(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, tcpSendBuffer)
	})
	if err != nil {
		return err
	}
	return serr
}

// listen binds one address: UDP first (several sockets with SO_REUSEPORT)
// then TCP on the same port.
//
// An address another process serves is refused, never shared: a socket
// with SO_REUSEPORT could join the reuseport group of another Meridian
// (or of any program of the same user) and take part of its queries. So a
// UDP socket without SO_REUSEPORT is bound first, which fails while any
// socket holds the address, and closed before the group is bound; it also
// picks the port when addr's is 0. The TCP listener has no SO_REUSEPORT,
// so of two servers that bound their UDP groups at the same instant, the
// second still fails, on TCP, and closes its group.
func (s *Server) listen(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("listen %q: %w", addr, err)
	}
	var probe net.ListenConfig
	udp := net.ListenConfig{Control: s.udpSocketOptions}
	tcp := net.ListenConfig{Control: tcpSocketOptions}
	ctx := context.Background()
	var conns []*net.UDPConn
	for attempt := 0; ; attempt++ {
		pc, err := probe.ListenPacket(ctx, "udp", ap.String())
		if err != nil {
			return listenError("udp", addr, err)
		}
		bound := pc.LocalAddr().(*net.UDPAddr).AddrPort()
		pc.Close()
		conns = conns[:0]
		network := "udp"
		for i := 0; i < s.cfg.UDPSockets && err == nil; i++ {
			if pc, err = udp.ListenPacket(ctx, "udp", bound.String()); err == nil {
				conns = append(conns, pc.(*net.UDPConn))
			}
		}
		var tl net.Listener
		if err == nil {
			network = "tcp"
			tl, err = tcp.Listen(ctx, "tcp", bound.String())
		}
		if err == nil {
			s.udp = append(s.udp, conns...)
			s.tcp = append(s.tcp, tl.(*net.TCPListener))
			s.addr = append(s.addr, netip.AddrPortFrom(ap.Addr(), bound.Port()))
			return nil
		}
		for _, c := range conns {
			c.Close()
		}
		// With port 0 the kernel's choice for UDP may be taken for TCP: retry.
		if ap.Port() != 0 || attempt >= 10 {
			return listenError(network, addr, err)
		}
	}
}

// listenError describes a failed bind of addr; an address in use says so
// plainly.
func listenError(network, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen %s %s: %w: another process serves it; stop that process first", network, addr, syscall.EADDRINUSE)
	}
	return fmt.Errorf("listen %s %s: %w", network, addr, err)
}

// udpBatch is how many datagrams one recvmmsg/sendmmsg call moves.
const udpBatch = 32

// udpBufSize bounds a UDP query; larger datagrams are cut and dropped.
// EDNS queries are a few hundred bytes at most.
const udpBufSize = 4096

func (s *Server) isClosing() bool {
	select {
	case <-s.shutdown:
		return true
	default:
		return false
	}
}

// Shutdown stops listening and waits for queries being answered to finish,
// or for ctx to end. Idle TCP connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	close(s.shutdown)
	// Wake blocked readers; a reader that has a query in hand still answers.
	s.wakeUDP()
	now := time.Now()
	for c := range s.conns {
		c.SetReadDeadline(now)
	}
	s.mu.Unlock()
	for _, l := range s.tcp {
		l.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.closeListeners()
	return err
}

func (s *Server) closeListeners() {
	for _, c := range s.udp {
		c.Close()
	}
	for _, l := range s.tcp {
		l.Close()
	}
}
