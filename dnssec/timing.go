package dnssec

import (
	"fmt"
	"time"
)

// Timing is the timing metadata BIND keeps for a key: the lines Created,
// Publish, Activate, Inactive, Delete, SyncPublish and SyncDelete of its
// .private file (dnssec-keygen and dnssec-settime write them there, and a
// copy as comments in the .key file, which is only for people). A zero
// time is an unset field.
type Timing struct {
	Created  time.Time
	Publish  time.Time
	Activate time.Time
	Inactive time.Time
	Delete   time.Time
	// SyncPublish and SyncDelete bound when a KSK or CSK is offered to the
	// parent as CDS and CDNSKEY (dnssec-settime -P sync, -D sync).
	SyncPublish time.Time
	SyncDelete  time.Time
}

// timeLayout is BIND's form of a time in key files: YYYYMMDDHHMMSS, UTC.
const timeLayout = "20060102150405"

// timingFields names the timing lines of a .private file, in the order
// BIND writes them, with where each is kept.
var timingFields = []struct {
	name string
	get  func(*Timing) *time.Time
}{
	{"Created", func(t *Timing) *time.Time { return &t.Created }},
	{"Publish", func(t *Timing) *time.Time { return &t.Publish }},
	{"Activate", func(t *Timing) *time.Time { return &t.Activate }},
	{"Inactive", func(t *Timing) *time.Time { return &t.Inactive }},
	{"Delete", func(t *Timing) *time.Time { return &t.Delete }},
	{"SyncPublish", func(t *Timing) *time.Time { return &t.SyncPublish }},
	{"SyncDelete", func(t *Timing) *time.Time { return &t.SyncDelete }},
}

// parseTime reads a time as BIND writes it in key files.
func parseTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(timeLayout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time of the form YYYYMMDDHHMMSS (UTC)", s)
	}
	return t, nil
}

// formatTime writes t as BIND does in key files.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// reached reports whether the set time when is at or before t.
func reached(when, t time.Time) bool { return !when.IsZero() && !when.After(t) }

// events returns the set times of tm that change what a key does (all
// but Created).
func (tm *Timing) events() []time.Time {
	var out []time.Time
	for _, f := range timingFields[1:] {
		if w := *f.get(tm); !w.IsZero() {
			out = append(out, w)
		}
	}
	return out
}
