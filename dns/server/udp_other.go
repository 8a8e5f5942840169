//go:build !linux

package server

import (
	"errors"
	"net"
	"time"

	"golang.org/x/net/ipv4"
)

// serveUDP answers datagrams from one socket through golang.org/x/net's
// batch API (one datagram per call outside Linux; udp_linux.go has the
// Linux version).
func (s *Server) serveUDP(c *net.UDPConn) {
	defer s.wg.Done()
	pc := ipv4.NewPacketConn(c) // ReadBatch and WriteBatch work for IPv6 sockets too
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, 0, udpBatch)
	replyBufs := make([][]byte, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, udpBufSize)}
		replyBufs[i] = make([]byte, udpBufSize)
	}
	for {
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			if s.isClosing() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		out = out[:0]
		for i := range n {
			m := &in[i]
			ua, ok := m.Addr.(*net.UDPAddr)
			if !ok || m.N >= udpBufSize {
				continue // not UDP, or larger than any sane query
			}
			from := ua.AddrPort()
			reply := s.handler.Serve(m.Buffers[0][:m.N], from.Addr(), UDP, replyBufs[i])
			if reply != nil {
				out = append(out, ipv4.Message{Buffers: [][]byte{reply}, Addr: m.Addr})
			}
		}
		for off := 0; off < len(out); {
			w, err := pc.WriteBatch(out[off:], 0)
			if err != nil {
				if s.isClosing() || errors.Is(err, net.ErrClosed) {
					return
				}
				w = 1 // the kernel refused this reply (e.g. no route): skip it
			}
			off += w
		}
	}
}

// udpReader is a UDP socket served through the poller.
type udpReader struct{ c *net.UDPConn }

// startUDP starts a reader on every bound UDP socket.
func (s *Server) startUDP() error {
	for _, c := range s.udp {
		s.readers = append(s.readers, &udpReader{c})
		s.wg.Add(1)
		go s.serveUDP(c)
	}
	return nil
}

// wakeUDP wakes every reader so it sees that the server is closing.
func (s *Server) wakeUDP() {
	for _, r := range s.readers {
		r.c.SetReadDeadline(time.Now())
	}
}

// readersHoldProcs is set where each UDP reader holds a P while it
// sleeps in the kernel: not with the poller.
const readersHoldProcs = false

// fragmentation leaves the platform's defaults: the options RFC 9715
// asks for are set on Linux only.
func fragmentation(fd, udpSize int) error { return nil }
