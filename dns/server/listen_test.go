//go:build linux

package server

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// reusePort is a net.ListenConfig control function setting SO_REUSEPORT.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// TestListenRefusesAddressInUse: a server does not start on an address
// another socket holds, over UDP or TCP, with SO_REUSEPORT or without, nor
// on another Meridian's: it fails with "address already in use", naming
// the address, and leaves nothing bound.
func TestListenRefusesAddressInUse(t *testing.T) {
	ctx := context.Background()
	loopback := "127.0.0.1:0"
	holders := []struct {
		name string
		hold func(t *testing.T) (port uint16, release func())
	}{
		{"udp socket", func(t *testing.T) (uint16, func()) {
			c, err := net.ListenPacket("udp", loopback)
			if err != nil {
				t.Fatal(err)
			}
			return uint16(c.LocalAddr().(*net.UDPAddr).Port), func() { c.Close() }
		}},
		{"udp socket with SO_REUSEPORT", func(t *testing.T) (uint16, func()) {
			c, err := (&net.ListenConfig{Control: reusePort}).ListenPacket(ctx, "udp", loopback)
			if err != nil {
				t.Fatal(err)
			}
			return uint16(c.LocalAddr().(*net.UDPAddr).Port), func() { c.Close() }
		}},
		{"tcp listener", func(t *testing.T) (uint16, func()) {
			l, err := net.Listen("tcp", loopback)
			if err != nil {
				t.Fatal(err)
			}
			return uint16(l.Addr().(*net.TCPAddr).Port), func() { l.Close() }
		}},
		{"tcp listener with SO_REUSEPORT", func(t *testing.T) (uint16, func()) {
			l, err := (&net.ListenConfig{Control: reusePort}).Listen(ctx, "tcp", loopback)
			if err != nil {
				t.Fatal(err)
			}
			return uint16(l.Addr().(*net.TCPAddr).Port), func() { l.Close() }
		}},
		{"meridian", func(t *testing.T) (uint16, func()) {
			srv := New(Config{Listen: []string{loopback}, UDPSockets: 2}, newTestHandler(t, Options{}), nil)
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			return srv.Addrs()[0].Port(), func() { srv.Shutdown(ctx) }
		}},
	}
	for _, h := range holders {
		t.Run(h.name, func(t *testing.T) {
			port, release := h.hold(t)
			addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()
			second := New(Config{Listen: []string{addr}, UDPSockets: 2}, newTestHandler(t, Options{}), nil)
			err := second.Start()
			if err == nil {
				second.Shutdown(ctx)
				release()
				t.Fatalf("a second server started on %s, held by a %s", addr, h.name)
			}
			if !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), addr) {
				t.Errorf("error %q, want one saying address already in use and naming %s", err, addr)
			}
			if h.name == "meridian" {
				// The first server still answers every query.
				c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
				if err != nil {
					t.Fatal(err)
				}
				exchangeUDP(t, c, 50)
				c.Close()
				tc := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
				if r, _, err := tc.Exchange(query("www.example.com.", dns.TypeA), addr); err != nil || len(r.Answer) != 1 {
					t.Errorf("the first server over TCP: %v, %v", r, err)
				}
			}
			release()
			// The failed start left none of its UDP sockets bound. (Not
			// checked for TCP: a client connection's TIME_WAIT may hold
			// the same port number.)
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				t.Fatalf("UDP port still bound: %v", err)
			}
			u.Close()
		})
	}
}
