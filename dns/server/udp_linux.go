package server

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/meridian-dns/meridian/metrics"
)

// How UDP is served on Linux.
//
// Each UDP socket has one reader goroutine. While queries keep coming it
// sleeps inside recvmmsg, as the C servers do, instead of in Go's network
// poller: through the poller every wake-up costs two epoll_pwait calls and
// the scheduler's hand-offs on top of recvmmsg and sendmmsg, and a socket
// registered in any epoll instance runs that instance's wake-up callback
// for every datagram that arrives. docs/performance.md has the figures.
//
// A reader blocked in a raw system call keeps its P (a slot to run Go
// code), so:
//   - the program should run with one more P for every reader
//     (Server.ReaderProcs), so that the rest of it keeps the Ps it had:
//     that is the caller's policy to set (app does, see docs/operations.md),
//     since GOMAXPROCS belongs to the whole process;
//   - the reader's descriptor is a blocking duplicate of the socket, taken
//     out of the poller (the net.UDPConn it came from is closed), with a
//     receive timeout. With a timeout set, a signal interrupts recvmmsg
//     (EINTR) instead of restarting it (signal(7)): the runtime's
//     preemption signal, sent to a goroutine that has not yielded for
//     10 ms or when a garbage collection stops the world, wakes the reader;
//   - a few reads in a row that end without a datagram (that signal, or
//     the timeout when signals are off) mean the socket is quiet: the
//     reader then waits in the poller, through an epoll instance of its
//     own that watches the socket only for that wait. Its P is free
//     meanwhile, so an idle server costs nothing;
//   - Shutdown wakes a reader with shutdown(SHUT_RD), after which recvmmsg
//     returns at once and the poller reports the socket readable.

// udpReceiveTimeout is SO_RCVTIMEO of a reader's socket: the longest a
// reader sleeps in recvmmsg holding its P. Setting one also makes a signal
// interrupt recvmmsg (EINTR) instead of restarting it (signal(7)).
const udpReceiveTimeout = 20 * time.Millisecond

// quietReads is how many reads in a row that end without a datagram make
// a reader wait in the poller instead: 30 to 60 ms without queries.
const quietReads = 3

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2): a message
// header and the length the kernel moved. Go pads it like C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpReader owns one UDP socket's descriptor and the buffers of its
// batches, set up once and reused: receiving and answering a batch
// allocates nothing.
type udpReader struct {
	mu sync.Mutex
	fd int // -1 once closed
	// epfd is the reader's epoll instance, and quiet the same descriptor
	// in the runtime's poller: while the socket is quiet the reader adds
	// fd to it and waits there (waitQuiet); otherwise it watches nothing.
	epfd  int
	quiet *os.File
	// quiets counts the times the socket went quiet and the reader moved
	// to the poller.
	quiets atomic.Uint64

	in      []mmsghdr
	inIov   []unix.Iovec
	names   []unix.RawSockaddrInet6 // large enough for either family
	bufs    [][]byte
	replies [][]byte
	out     []mmsghdr
	outIov  []unix.Iovec
}

func newUDPReader(fd, epfd int, quiet *os.File) *udpReader {
	r := &udpReader{
		fd: fd, epfd: epfd, quiet: quiet,
		in: make([]mmsghdr, udpBatch), inIov: make([]unix.Iovec, udpBatch),
		names: make([]unix.RawSockaddrInet6, udpBatch), bufs: make([][]byte, udpBatch),
		replies: make([][]byte, udpBatch), out: make([]mmsghdr, udpBatch), outIov: make([]unix.Iovec, udpBatch),
	}
	for i := range r.in {
		r.bufs[i] = make([]byte, udpBufSize)
		r.replies[i] = make([]byte, udpBufSize)
		r.inIov[i].Base = &r.bufs[i][0]
		r.inIov[i].SetLen(udpBufSize)
		r.in[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.in[i].hdr.Iov = &r.inIov[i]
		r.in[i].hdr.SetIovlen(1)
	}
	return r
}

// detachUDP returns a reader for c's socket: a blocking duplicate of its
// descriptor with the receive timeout set, and the epoll instance it
// waits in when quiet. The caller closes c, which takes the socket out of
// the poller; the duplicate keeps it open.
func detachUDP(c *net.UDPConn) (*udpReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(orig uintptr) {
		fd, derr = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	tv := unix.NsecToTimeval(udpReceiveTimeout.Nanoseconds())
	err = unix.SetNonblock(fd, false)
	if err == nil {
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}
	epfd := -1
	if err == nil {
		epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	}
	if err == nil {
		err = unix.SetNonblock(epfd, true) // so os.NewFile puts it in the poller
	}
	if err != nil {
		unix.Close(fd)
		if epfd >= 0 {
			unix.Close(epfd)
		}
		return nil, err
	}
	return newUDPReader(fd, epfd, os.NewFile(uintptr(epfd), "udp-epoll")), nil
}

// startUDP takes every bound UDP socket out of the poller and starts its
// reader.
func (s *Server) startUDP() error {
	readers := make([]*udpReader, 0, len(s.udp))
	for _, c := range s.udp {
		r, err := detachUDP(c)
		if err != nil {
			for _, r := range readers {
				r.close()
			}
			return err
		}
		readers = append(readers, r)
	}
	for _, c := range s.udp {
		c.Close()
	}
	s.udp = nil
	s.readers = readers
	for _, r := range readers {
		s.wg.Add(1)
		go s.serveUDP(r)
	}
	return nil
}

// wakeUDP wakes every reader so it sees that the server is closing. Called
// once, with s.mu held.
func (s *Server) wakeUDP() {
	for _, r := range s.readers {
		r.mu.Lock()
		if r.fd >= 0 {
			unix.Shutdown(r.fd, unix.SHUT_RD)
		}
		r.mu.Unlock()
	}
}

func (r *udpReader) close() {
	r.mu.Lock()
	if r.fd >= 0 {
		r.quiet.Close()
		unix.Close(r.fd)
		r.fd = -1
	}
	r.mu.Unlock()
}

// serveUDP answers datagrams from one socket in batches: one recvmmsg
// sleeps until at least one datagram is there and brings in whatever else
// has arrived (up to udpBatch), one sendmmsg sends all their replies.
//
// While queries keep coming the reader sleeps inside recvmmsg, holding its
// P. When quietReads sleeps in a row end without a datagram (the runtime's
// preemption signal, which the scheduler sends to a goroutine that has not
// yielded for 10 ms, or the receive timeout) the socket has gone quiet: the
// reader then waits in the runtime's poller like any network read, through
// an epoll instance of its own that watches the socket only during that
// wait, so an idle server costs nothing and a busy one pays no poller
// wake-ups.
func (s *Server) serveUDP(r *udpReader) {
	defer s.wg.Done()
	defer r.close()
	fd := uintptr(r.fd) // r.fd changes only in close, after this returns
	quiet, err := r.quiet.SyscallConn()
	if err != nil {
		s.logger.Error("udp socket", "error", err)
		return
	}
	idle := 0
	for errs := 0; !s.isClosing(); {
		for i := range r.in {
			r.in[i].hdr.Namelen = unix.SizeofSockaddrInet6
			r.in[i].hdr.Flags = 0
		}
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.in[0])), uintptr(len(r.in)), unix.MSG_WAITFORONE, 0, 0)
		switch e {
		case 0:
			errs, idle = 0, 0
			r.answer(s, fd, int(n))
		case unix.EAGAIN, unix.EINTR:
			// No datagram: the receive timeout, or a signal. If the
			// runtime asked this goroutine to stop (for a garbage
			// collection, or because it has not yielded for 10 ms), it
			// does here. The socket counts as quiet only after
			// quietReads such reads in a row: under load the runtime's
			// signal comes every 10 ms, and a reader that moved to the
			// poller each time would then wait for the poller to be
			// polled, up to 20 ms when every P is busy (a soak with
			// reloads every second measured such stalls).
			if idle++; idle < quietReads {
				runtime.Gosched()
				continue
			}
			idle = 0
			r.quiets.Add(1)
			if err := r.waitQuiet(quiet); err != nil {
				if !s.isClosing() {
					s.logger.Error("udp socket", "error", err)
				}
				return
			}
		default:
			// An error queued on the socket (ICMP port unreachable from
			// a departed client) is reported once; anything that keeps
			// failing pauses instead of spinning.
			if errs++; errs > 16 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// waitQuiet waits in the runtime's poller until the socket is readable
// (or shut down). The socket is in the reader's epoll instance only for
// that wait: while it is in one, every datagram's arrival runs the
// instance's wake-up callback, which measurably slows the busy path.
func (r *udpReader) waitQuiet(quiet syscall.RawConn) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, r.fd, &ev); err != nil {
		return err
	}
	err := quiet.Read(r.waitReadable)
	if derr := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, r.fd, nil); err == nil {
		err = derr
	}
	return err
}

// waitReadable is the read function of the reader's epoll instance: done
// when it reports the socket.
func (r *udpReader) waitReadable(epfd uintptr) bool {
	var ev [1]unix.EpollEvent
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&ev[0])), 1, 0, 0, 0)
	return e != 0 && e != unix.EAGAIN || n > 0
}

// answer answers the n datagrams of the last read and sends the replies.
// Each query's duration is observed as the batch's: from the read to the
// replies handed to the kernel, two clock readings for the whole batch.
func (r *udpReader) answer(s *Server, fd uintptr, n int) {
	start := time.Now()
	k := 0
	for i := range n {
		m := &r.in[i]
		if m.hdr.Flags&unix.MSG_TRUNC != 0 || m.n >= udpBufSize {
			continue // larger than any sane query
		}
		from, ok := sockaddrIP(&r.names[i])
		if !ok {
			continue // after shutdown(SHUT_RD): an empty read, no sender
		}
		reply := s.handler.serveAt(r.bufs[i][:m.n], from, UDP, r.replies[i], start)
		if len(reply) == 0 {
			continue
		}
		o := &r.out[k]
		o.hdr.Name = m.hdr.Name
		o.hdr.Namelen = m.hdr.Namelen
		r.outIov[k].Base = &reply[0]
		r.outIov[k].SetLen(len(reply))
		o.hdr.Iov = &r.outIov[k]
		o.hdr.SetIovlen(1)
		k++
	}
	r.send(fd, k)
	if m := s.handler.Metrics; m != nil && k > 0 {
		m.Duration.ObserveN(metrics.Since(start), k)
	}
}

// send sends the first k replies of r.out without blocking. When the
// socket buffer is full it waits for room, up to a bound, then drops the
// rest of the batch; a reply the kernel refuses (no route, say) is skipped.
func (r *udpReader) send(fd uintptr, k int) {
	for off, waits := 0, 0; off < k; {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&r.out[off])), uintptr(k-off), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			off += max(int(n), 1)
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

// fragmentation sets how a UDP socket's replies treat fragmentation
// (RFC 9715). Path MTU discovery is off either way, so a forged ICMP
// "fragmentation needed" or "packet too big" cannot make the kernel cut
// replies into fragments. When every reply fits a 1400-byte payload
// (udp_size up to 1400, the largest RFC 9715 recommends) replies carry
// IPv4's Don't Fragment bit, as RFC 9715 recommends, and the kernel
// needs no IP identification for them. With a larger udp_size, replies
// bigger than the link's MTU are fragmented by the kernel as before.
func fragmentation(fd, udpSize int) error {
	v4, v6 := unix.IP_PMTUDISC_PROBE, unix.IPV6_PMTUDISC_PROBE
	if udpSize > 1400 {
		v4, v6 = unix.IP_PMTUDISC_OMIT, unix.IPV6_PMTUDISC_OMIT
	}
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return err
	}
	if domain == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, v6); err != nil {
			return err
		}
		// A dual-stack socket sends IPv4 too; an IPv6-only one refuses
		// the IPv4 option, which is then moot.
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, v4)
		return nil
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, v4)
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

// readersHoldProcs is set where each UDP reader holds a P while it
// sleeps in the kernel.
const readersHoldProcs = true
