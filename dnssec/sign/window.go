package sign

import "time"

// Period is the step by which validity windows move: every window begins
// and ends on a Monday at 00:00 UTC.
const Period = 7 * 24 * time.Hour

// RefreshLead is how long before the week boundary RefreshAt says to start
// signing the next window, so that signatures for it are ready (and a
// snapshot of a large zone is re-signed) before the first query needs them.
const RefreshLead = 24 * time.Hour

// monday is a Monday at 00:00 UTC, the origin of the weekly grid.
var monday = time.Date(2001, time.January, 1, 0, 0, 0, 0, time.UTC)

// Window is the validity period (RFC 4034 3.1.5) written into every RRSIG
// made while it is current.
//
// Windows are a pure function of the time, aligned to the week, so that an
// RRset has one signing input on every instance and after every reload:
// while now is in the week that starts on Monday W at 00:00 UTC, the window
// is [W-7d, W+14d]. The inception a week back tolerates validators whose
// clocks run slow; a signature served at any moment of week W has at least
// seven days of validity left. At W+7d the window moves to [W, W+21d].
type Window struct {
	Inception  time.Time
	Expiration time.Time
}

// WindowAt returns the window in force at now. For every now,
// Inception <= now < Expiration, and the result is the same for every now
// in one week.
func WindowAt(now time.Time) Window {
	weeks := now.Sub(monday) / Period
	if now.Before(monday.Add(weeks * Period)) {
		weeks-- // now before the grid's origin: Duration division truncates toward zero
	}
	start := monday.Add(weeks * Period)
	return Window{Inception: start.Add(-Period), Expiration: start.Add(2 * Period)}
}

// Next returns the window that follows w, in force a week later.
func (w Window) Next() Window {
	return Window{Inception: w.Inception.Add(Period), Expiration: w.Expiration.Add(Period)}
}

// End returns the moment w stops being the window in force: the start of
// the following week, when WindowAt returns w.Next(). Seven days of w's
// validity remain then.
func (w Window) End() time.Time {
	return w.Inception.Add(2 * Period)
}

// RefreshAt returns when to start signing w.Next() in the background:
// RefreshLead before w ends. Signatures made for w stay valid, and are
// served, until End; they expire a week after that.
func (w Window) RefreshAt() time.Time {
	return w.End().Add(-RefreshLead)
}

// Contains reports whether t is inside the validity period of w.
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.Inception) && t.Before(w.Expiration)
}

// equal reports whether w and o put the same times into an RRSIG.
func (w Window) equal(o Window) bool {
	wi, we := w.rrsigTimes()
	oi, oe := o.rrsigTimes()
	return wi == oi && we == oe
}

// rrsigTimes returns the RRSIG Inception and Expiration fields of w: seconds
// since the epoch modulo 2**32 (RFC 4034 3.1.5).
func (w Window) rrsigTimes() (inception, expiration uint32) {
	return uint32(w.Inception.Unix()), uint32(w.Expiration.Unix())
}
