package sign

import (
	"math/rand/v2"
	"testing"
	"time"
)

// now is the fake clock of these tests: a Sunday afternoon.
var now = time.Date(2026, time.December, 6, 15, 4, 5, 0, time.UTC)

func TestWindowAt(t *testing.T) {
	w := WindowAt(now) // Sunday 6 December 2026: the week began on Monday 30 November
	want := Window{
		Inception:  time.Date(2026, time.November, 23, 0, 0, 0, 0, time.UTC),
		Expiration: time.Date(2026, time.December, 14, 0, 0, 0, 0, time.UTC),
	}
	if !w.Inception.Equal(want.Inception) || !w.Expiration.Equal(want.Expiration) {
		t.Fatalf("WindowAt(%v) = %v, want %v", now, w, want)
	}

	weekStart := time.Date(2026, time.November, 30, 0, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	for _, at := range []time.Time{
		weekStart,
		weekStart.Add(time.Nanosecond),
		weekStart.Add(3*24*time.Hour + 7*time.Hour),
		weekStart.Add(Period - time.Nanosecond),
		weekStart.Add(30 * time.Minute).In(paris), // the same instant, shown in another zone
	} {
		if got := WindowAt(at); !got.equal(w) {
			t.Errorf("WindowAt(%v) = %v, want the week's %v", at, got, w)
		}
	}
	if got := WindowAt(weekStart.Add(-time.Nanosecond)); got.equal(w) {
		t.Errorf("WindowAt(the instant before the week) = %v, the same as the week's", got)
	}
	// Monday 00:30 in Paris is still Sunday in UTC: windows follow UTC.
	if got := WindowAt(time.Date(2026, time.November, 30, 0, 30, 0, 0, paris)); got.equal(w) {
		t.Errorf("WindowAt(Monday 00:30 CET) = %v, want the previous week's", got)
	}

	next := WindowAt(weekStart.Add(Period))
	if !next.equal(w.Next()) || next.Inception.Sub(w.Inception) != Period || next.Expiration.Sub(w.Expiration) != Period {
		t.Errorf("the next week's window is %v, want %v moved by a week", next, w)
	}
}

func TestWindowInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		// Any time from 1990 to 2100, in UTC or a zone east or west.
		at := time.Unix(631152000+r.Int64N(3471292800), r.Int64N(1e9)).In(time.FixedZone("", (r.IntN(27)-12)*3600))
		w := WindowAt(at)
		if at.Before(w.Inception) || !at.Before(w.Expiration) {
			t.Fatalf("WindowAt(%v) = %v does not contain it", at, w)
		}
		if w.Inception.UTC().Weekday() != time.Monday || w.Inception.UTC().Truncate(24*time.Hour) != w.Inception.UTC() {
			t.Fatalf("WindowAt(%v).Inception = %v, not a Monday at 00:00 UTC", at, w.Inception)
		}
		if w.Expiration.Sub(w.Inception) != 3*Period {
			t.Fatalf("WindowAt(%v) = %v, not three weeks long", at, w)
		}
		if left := w.Expiration.Sub(at); left <= Period {
			t.Fatalf("WindowAt(%v) = %v leaves %v, not more than a week", at, w, left)
		}
		refresh := w.RefreshAt()
		if !refresh.Before(w.End()) || !w.End().Before(w.Expiration) || !WindowAt(refresh).equal(w) {
			t.Fatalf("window %v: RefreshAt %v, End %v: want RefreshAt inside the window's week, before End, before Expiration", w, refresh, w.End())
		}
		if !WindowAt(w.End()).equal(w.Next()) || !WindowAt(w.End().Add(-time.Nanosecond)).equal(w) {
			t.Fatalf("window %v: End %v is not where the next window begins", w, w.End())
		}
	}
}
