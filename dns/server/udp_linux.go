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
	// n and errno are the outcome of the last recv; sendOff and sendEnd
	// the part of out still to send.
	n                int
	errno            unix.Errno
	sendOff, sendEnd int
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
	recv, send := b.recv, b.send // made once: a closure per call would allocate
	for {
		if err := rc.Read(recv); err != nil {
			return // closed
		}
		if b.errno != 0 {
			continue // an error queued on the socket (ICMP): skip it
		}
		k := 0
		for i := range b.n {
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
		// Send the replies, waiting for room in the socket buffer when it
		// is full. A reply the kernel refuses (no route, say) is skipped.
		for b.sendOff, b.sendEnd = 0, k; b.sendOff < b.sendEnd; {
			if err := rc.Write(send); err != nil {
				return
			}
		}
	}
}

// recv is the read function of a batch: one recvmmsg into b.in. It
// reports false (wait for the socket to be readable) when nothing has
// arrived; otherwise b.n and b.errno hold the outcome.
func (b *udpBatchIO) recv(fd uintptr) bool {
	for i := range b.in {
		b.in[i].hdr.Namelen = unix.SizeofSockaddrInet6
		b.in[i].hdr.Flags = 0
	}
	var r uintptr
	var e unix.Errno
	for {
		r, _, e = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), uintptr(len(b.in)), 0, 0, 0)
		if e != unix.EINTR {
			break
		}
	}
	if e == unix.EAGAIN {
		return false
	}
	b.n, b.errno = 0, e
	if e == 0 {
		b.n = int(r)
	}
	return true
}

// send is the write function of a batch: one sendmmsg of
// b.out[b.sendOff:b.sendEnd], advancing b.sendOff past what was sent (or
// past a reply the kernel refused). It reports false when the socket
// buffer is full.
func (b *udpBatchIO) send(fd uintptr) bool {
	var r uintptr
	var e unix.Errno
	for {
		r, _, e = unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[b.sendOff])), uintptr(b.sendEnd-b.sendOff), 0, 0, 0)
		if e != unix.EINTR {
			break
		}
	}
	switch {
	case e == unix.EAGAIN:
		return false
	case e != 0:
		b.sendOff++
	default:
		b.sendOff += max(int(r), 1)
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
