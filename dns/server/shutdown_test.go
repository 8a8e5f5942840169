package server

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// blockingLog holds every query in flight until released: Serve calls the
// query log inline, before the reply is written.
type blockingLog struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingLog) Log(QueryLogEntry) {
	b.entered <- struct{}{}
	<-b.release
}

// TestShutdownFinishesInFlightQueries: Shutdown stops listening but waits
// for a query being answered, whose reply still reaches the client.
func TestShutdownFinishesInFlightQueries(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			h := newTestHandler(t, Options{})
			bl := &blockingLog{entered: make(chan struct{}, 1), release: make(chan struct{})}
			h.QueryLog = bl
			srv := New(Config{Listen: []string{"127.0.0.1:0"}, UDPSockets: 1}, h, nil)
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			addr := srv.Addrs()[0].String()

			replies := make(chan *dns.Msg, 1)
			go func() {
				c := &dns.Client{Net: proto, Timeout: 10 * time.Second}
				r, _, err := c.Exchange(query("www.example.com.", dns.TypeA), addr)
				if err != nil {
					t.Errorf("exchange: %v", err)
				}
				replies <- r
			}()
			select {
			case <-bl.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the query never reached the handler")
			}
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				done <- srv.Shutdown(ctx)
			}()
			// New connections are refused once Shutdown has closed the
			// listeners; wait for that, then check the in-flight query
			// is still being waited for.
			if proto == "tcp" {
				deadline := time.Now().Add(10 * time.Second)
				for {
					c, err := net.DialTimeout("tcp", addr, time.Second)
					if err != nil {
						break
					}
					c.Close()
					if time.Now().After(deadline) {
						t.Fatal("still accepting connections after Shutdown")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			select {
			case err := <-done:
				t.Fatalf("Shutdown returned (%v) while a query was in flight", err)
			default:
			}
			close(bl.release)
			if err := <-done; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if r := <-replies; r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("in-flight query's reply: %v", r)
			}
		})
	}
}
