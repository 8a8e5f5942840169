package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/healthcheck"
)

// The fleet's key layout under the prefix (docs/fleet.md). Health uses
// instances/ and health/. The fleet's operator state (admin/: drains and
// weights; changes/: who changed what) and published zones (zones/) are
// reserved for what comes next: a member ignores every key outside the
// sections it reads.
const (
	// instancesDir holds one key per live member, on its lease:
	// instances/<instance> = Instance.
	instancesDir = "instances/"
	// healthDir holds the observations: health/<instance>/<target ID> =
	// Observation, on the observer's lease. The target ID is
	// check.Key.ID. The instance comes first so that etcd's roles can let
	// each instance write under its own name only.
	healthDir = "health/"
)

// Limits on what is read from etcd.
const (
	// MaxValueBytes bounds an instance or observation value.
	MaxValueBytes = 1024
	// targetIDLen is the length of check.Key.ID.
	targetIDLen = 32
	// maxInstances bounds the live members kept; more are ignored.
	maxInstances = 1000
	// maxObservations bounds the observations kept from other members.
	maxObservations = 2 << 20
)

// Observation is one member's verdict on one target, as published.
type Observation struct {
	// State is StateUp or StateDown.
	State healthcheck.State
	// Since is when the member's view entered State.
	Since time.Time
	// Error is why the member's last probe failed when it went down.
	Error string
}

// observationJSON is the value's wire form.
type observationJSON struct {
	State string    `json:"state"`
	Since time.Time `json:"since"`
	Error string    `json:"error,omitempty"`
}

// Marshal returns the value published for o.
func (o Observation) Marshal() []byte {
	b, _ := json.Marshal(observationJSON{State: o.State.String(), Since: o.Since.UTC(), Error: o.Error})
	return b
}

// ParseObservation reads a published observation strictly: at most
// MaxValueBytes of one JSON object with known fields only, state up or
// down, a since time, and an error of at most healthcheck.MaxDetailBytes
// of printable text.
func ParseObservation(b []byte) (Observation, error) {
	var v observationJSON
	if err := decodeStrict(b, &v); err != nil {
		return Observation{}, err
	}
	var o Observation
	switch v.State {
	case "up":
		o.State = healthcheck.StateUp
	case "down":
		o.State = healthcheck.StateDown
	default:
		return Observation{}, fmt.Errorf("state %q is not up or down", clip(v.State))
	}
	if v.Since.IsZero() {
		return Observation{}, errors.New("no since time")
	}
	if err := checkText(v.Error, healthcheck.MaxDetailBytes); err != nil {
		return Observation{}, fmt.Errorf("error: %w", err)
	}
	o.Since, o.Error = v.Since, v.Error
	return o, nil
}

// Instance is a live member's registration.
type Instance struct {
	// Version is the member's Meridian version.
	Version string `json:"version"`
	// Started is when the member's current etcd session began.
	Started time.Time `json:"started"`
}

// Marshal returns the value registered for i.
func (i Instance) Marshal() []byte {
	i.Started = i.Started.UTC()
	b, _ := json.Marshal(i)
	return b
}

// ParseInstance reads a registration strictly, like ParseObservation.
func ParseInstance(b []byte) (Instance, error) {
	var i Instance
	if err := decodeStrict(b, &i); err != nil {
		return Instance{}, err
	}
	if err := checkText(i.Version, 64); err != nil {
		return Instance{}, fmt.Errorf("version: %w", err)
	}
	return i, nil
}

// decodeStrict decodes one JSON object of known fields, of at most
// MaxValueBytes, and nothing after.
func decodeStrict(b []byte, v any) error { return decodeStrictLimit(b, v, MaxValueBytes) }

// checkText accepts printable UTF-8 of at most limit bytes.
func checkText(s string, limit int) error {
	if len(s) > limit || !utf8.ValidString(s) {
		return fmt.Errorf("longer than %d bytes or not UTF-8", limit)
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return errors.New("holds a character that is not printable")
		}
	}
	return nil
}

// clip shortens untrusted text for an error message.
func clip(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// keyKind is what a key under the prefix holds.
type keyKind uint8

const (
	keyOther       keyKind = iota // not ours to read
	keyInstance                   // instances/<instance>
	keyObservation                // health/<instance>/<target>
)

// parseKey splits a key, without the prefix, into its kind, target ID and
// instance. A key under instances/ or health/ that does not fit the layout
// is an error; keys elsewhere are keyOther.
func parseKey(rel string) (kind keyKind, target, instance string, err error) {
	switch {
	case strings.HasPrefix(rel, instancesDir):
		instance = rel[len(instancesDir):]
		if err := config.CheckInstanceName(instance); err != nil {
			return keyOther, "", "", fmt.Errorf("instance key: %w", err)
		}
		return keyInstance, "", instance, nil
	case strings.HasPrefix(rel, healthDir):
		instance, target, ok := strings.Cut(rel[len(healthDir):], "/")
		if !ok || !isTargetID(target) {
			return keyOther, "", "", fmt.Errorf("health key: %q is not <instance>/<target ID>", clip(rel[len(healthDir):]))
		}
		if err := config.CheckInstanceName(instance); err != nil {
			return keyOther, "", "", fmt.Errorf("health key: %w", err)
		}
		return keyObservation, target, instance, nil
	}
	return keyOther, "", "", nil
}

// isTargetID reports whether s has the form of check.Key.ID: 32 lower-case
// hexadecimal digits.
func isTargetID(s string) bool {
	if len(s) != targetIDLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
