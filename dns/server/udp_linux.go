package server

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2): a message
// header and the length the kernel moved. Go pads it like C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpBatchIO holds the buffers of one socket's batches, set up once and
// reused: receiving and answering a batch allocates nothing.
type udpBatchIO struct {
	in      []mmsghdr
	inIov   []unix.Iovec
	names   []unix.RawSockaddrInet6 // large enough for either family
	bufs    [][]byte
	replies [][]byte
	out     []mmsghdr
	outIov  []unix.Iovec
	server  *Server
	// drained is set when the last read emptied the socket's queue.
	drained bool
}

func newUDPBatchIO() *udpBatchIO {
	b := &udpBatchIO{
		in: make([]mmsghdr, udpBatch), inIov: make([]unix.Iovec, udpBatch),
		names: make([]unix.RawSockaddrInet6, udpBatch), bufs: make([][]byte, udpBatch),
		replies: make([][]byte, udpBatch), out: make([]mmsghdr, udpBatch), outIov: make([]unix.Iovec, udpBatch),
	}
	for i := range b.in {
		b.bufs[i] = make([]byte, udpBufSize)
		b.replies[i] = make([]byte, udpBufSize)
		b.inIov[i].Base = &b.bufs[i][0]
		b.inIov[i].SetLen(udpBufSize)
		b.in[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.in[i].hdr.Iov = &b.inIov[i]
		b.in[i].hdr.SetIovlen(1)
	}
	return b
}

// serveUDP answers datagrams from one socket in batches: one recvmmsg
// brings in whatever has arrived (up to udpBatch datagrams), one sendmmsg
// sends all their replies. The socket is non-blocking and the calls are
// raw system calls: they never block, so the scheduler need not hand the
// goroutine's P to another thread around them, which on a busy server
// would cost a thread switch per batch. When nothing has arrived the
// goroutine waits in the runtime's poller like any network read.
func (s *Server) serveUDP(c *net.UDPConn) {
	defer s.wg.Done()
	rc, err := c.SyscallConn()
	if err != nil {
		s.logger.Error("udp socket", "error", err)
		return
	}
	b := newUDPBatchIO()
	b.server = s
	serve := b.serve // made once: a method value per call would allocate
	for !s.isClosing() {
		if err := rc.Read(serve); err != nil {
			return // closed, or the deadline Shutdown sets
		}
	}
}

// serve is the read function of a UDP socket: it answers batch after batch
// until the socket has nothing more (false: wait until it is readable,
// then call again) or the server is shutting down (true).
//
// A batch smaller than udpBatch emptied the socket's queue, so the next
// read would only fail with EAGAIN: serve waits for the poller first. That
// is safe only within one RawConn.Read, which resets the poller's
// readiness when it starts but not between calls of its function: every
// datagram that arrived after the last read has left the socket readable,
// so the wait returns at once for it.
func (b *udpBatchIO) serve(fd uintptr) bool {
	s := b.server
	for errs := 0; ; {
		if b.drained {
			b.drained = false
			return false
		}
		for i := range b.in {
			b.in[i].hdr.Namelen = unix.SizeofSockaddrInet6
			b.in[i].hdr.Flags = 0
		}
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), uintptr(len(b.in)), 0, 0, 0)
		switch e {
		case 0:
		case unix.EAGAIN:
			return false
		default:
			// Interrupted, or an error queued on the socket (ICMP port
			// unreachable from a client): each is reported once. Anything
			// that keeps failing waits for the poller instead of spinning.
			if errs++; errs > 16 || s.isClosing() {
				return s.isClosing()
			}
			continue
		}
		errs = 0
		n := int(r)
		k := 0
		for i := range n {
			m := &b.in[i]
			if m.hdr.Flags&unix.MSG_TRUNC != 0 || m.n >= udpBufSize {
				continue // larger than any sane query
			}
			from, ok := sockaddrIP(&b.names[i])
			if !ok {
				continue
			}
			reply := s.handler.Serve(b.bufs[i][:m.n], from, UDP, b.replies[i])
			if len(reply) == 0 {
				continue
			}
			o := &b.out[k]
			o.hdr.Name = m.hdr.Name
			o.hdr.Namelen = m.hdr.Namelen
			b.outIov[k].Base = &reply[0]
			b.outIov[k].SetLen(len(reply))
			o.hdr.Iov = &b.outIov[k]
			o.hdr.SetIovlen(1)
			k++
		}
		b.send(fd, k)
		b.drained = n < len(b.in)
		if s.isClosing() {
			return true
		}
	}
}

// send sends the first k replies of b.out. When the socket buffer is full
// it waits for room, up to a bound, then drops the rest of the batch; a
// reply the kernel refuses (no route, say) is skipped.
func (b *udpBatchIO) send(fd uintptr, k int) {
	for off, waits := 0, 0; off < k; {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[off])), uintptr(k-off), 0, 0, 0)
		switch e {
		case 0:
			off += max(int(r), 1)
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			if waits++; waits > 10 {
				return
			}
			// Rare: the kernel could not keep up. A short blocking wait,
			// told to the scheduler.
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, 100)
		default:
			off++
		}
	}
}

// sockaddrIP returns the address of a sockaddr_in or sockaddr_in6.
func sockaddrIP(sa *unix.RawSockaddrInet6) (netip.Addr, bool) {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(sa4.Addr), true
	case unix.AF_INET6:
		return netip.AddrFrom16(sa.Addr), true
	}
	return netip.Addr{}, false
}
