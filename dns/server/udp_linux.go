package server

import (
	"net"
	"net/netip"
	"syscall"
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
	for {
		var n int
		var errno unix.Errno
		err := rc.Read(func(fd uintptr) bool {
			for i := range b.in {
				b.in[i].hdr.Namelen = unix.SizeofSockaddrInet6
				b.in[i].hdr.Flags = 0
			}
			r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), uintptr(len(b.in)), 0, 0, 0)
			for e == unix.EINTR {
				r, _, e = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), uintptr(len(b.in)), 0, 0, 0)
			}
			if e == unix.EAGAIN {
				return false
			}
			n, errno = int(r), e
			return true
		})
		if err != nil {
			return // closed
		}
		if errno != 0 {
			continue // an error queued on the socket (ICMP): skip it
		}
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
		if !s.sendBatch(rc, b.out[:k]) {
			return
		}
	}
}

// sendBatch sends the replies of a batch, waiting for room in the socket
// buffer when it is full. A reply the kernel refuses (no route, say) is
// skipped. It reports false when the socket is closed.
func (s *Server) sendBatch(rc syscall.RawConn, out []mmsghdr) bool {
	for off := 0; off < len(out); {
		var sent int
		err := rc.Write(func(fd uintptr) bool {
			r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&out[off])), uintptr(len(out)-off), 0, 0, 0)
			for e == unix.EINTR {
				r, _, e = unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&out[off])), uintptr(len(out)-off), 0, 0, 0)
			}
			switch {
			case e == unix.EAGAIN:
				return false
			case e != 0:
				sent = 1
			default:
				sent = int(r)
			}
			return true
		})
		if err != nil {
			return false
		}
		off += max(sent, 1)
	}
	return true
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
