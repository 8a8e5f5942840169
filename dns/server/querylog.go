package server

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/metrics"
)

// SampledLog is a QueryLogger that writes a sample of queries to a slog
// logger from its own goroutine. The query path only offers an entry to a
// buffered channel; when the writer falls behind, entries are dropped and
// counted rather than slowing answers down.
type SampledLog struct {
	logger  *slog.Logger
	sample  float64
	entries chan QueryLogEntry
	done    chan struct{}
	stopped chan struct{}
	// Dropped counts entries lost because the writer fell behind.
	Dropped atomic.Uint64
}

// NewSampledLog starts a query log writing a share sample (0..1) of
// queries to logger. Close stops it.
func NewSampledLog(logger *slog.Logger, sample float64) *SampledLog {
	l := &SampledLog{logger: logger, sample: sample, entries: make(chan QueryLogEntry, 4096),
		done: make(chan struct{}), stopped: make(chan struct{})}
	go l.write()
	return l
}

// Sample draws whether the next query is logged; the handler asks before
// it builds the entry, so unsampled queries cost nothing more.
func (l *SampledLog) Sample() bool { return l.sample >= 1 || rand.Float64() < l.sample }

// Log offers e to the writer without blocking. Sampling is done by Sample
// before: every entry given is kept, unless the writer is behind.
func (l *SampledLog) Log(e QueryLogEntry) {
	select {
	case <-l.done:
		l.Dropped.Add(1)
		return
	default:
	}
	select {
	case l.entries <- e:
	default:
		l.Dropped.Add(1)
	}
}

// Close stops the writer after it has written what was queued, and waits
// for it. Entries offered after Close are dropped; Log never panics, since
// queries may still be in flight while the server shuts down.
func (l *SampledLog) Close() {
	close(l.done)
	<-l.stopped
}

func (l *SampledLog) write() {
	defer close(l.stopped)
	for {
		select {
		case e := <-l.entries:
			l.writeEntry(e)
		case <-l.done:
			for {
				select {
				case e := <-l.entries:
					l.writeEntry(e)
				default:
					return
				}
			}
		}
	}
}

func (l *SampledLog) writeEntry(e QueryLogEntry) {
	attrs := []slog.Attr{
		slog.String("client", e.Client.String()),
		slog.String("qname", e.Name),
		slog.String("qtype", dns.TypeToString[e.Type]),
		slog.String("transport", e.Transport.String()),
		slog.String("rcode", metrics.Rcode(e.Rcode)),
		slog.Int("answers", e.Answers),
		slog.Duration("duration", e.Duration),
	}
	if e.ECS.IsValid() {
		attrs = append(attrs, slog.String("ecs", e.ECS.String()))
	}
	if e.Region != "" {
		attrs = append(attrs, slog.String("region", e.Region))
	}
	l.logger.LogAttrs(context.Background(), slog.LevelInfo, "query", attrs...)
}
