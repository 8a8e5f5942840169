package healthcheck

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDetailBytes bounds the text a probe leaves behind: the error of a
// failed probe, which may quote what the target sent (a malformed status
// line, the names in its certificate, an exec check's output). Longer text
// is cut to at most this many bytes, ending with an ellipsis.
const MaxDetailBytes = 256

// ellipsis ends text that sanitizeDetail cut short.
const ellipsis = "…"

// sanitizeDetail makes text from a probe target safe to keep, publish and
// log: invalid UTF-8 and characters that are not printable (control
// characters, among them the escape that starts a terminal sequence, and
// format characters such as bidirectional overrides) become U+FFFD,
// whitespace other than a space becomes a space, and the result is cut to
// at most MaxDetailBytes at a character boundary, ending with an ellipsis.
// It reads no more of s than it keeps, and applying it twice changes
// nothing more.
func sanitizeDetail(s string) string {
	if cleanDetail(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		// Ranging over a string yields U+FFFD, which is printable, for
		// each byte that is not valid UTF-8.
		switch {
		case r == ' ' || unicode.IsPrint(r):
		case unicode.IsSpace(r):
			r = ' '
		default:
			r = unicode.ReplacementChar
		}
		b.WriteRune(r)
		if b.Len() > MaxDetailBytes {
			break
		}
	}
	out := b.String()
	if len(out) <= MaxDetailBytes {
		return out
	}
	cut := MaxDetailBytes - len(ellipsis)
	for !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + ellipsis
}

// cleanDetail reports whether s needs no change from sanitizeDetail.
func cleanDetail(s string) bool {
	if len(s) > MaxDetailBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// detailError is a failed probe's error with its message passed through
// sanitizeDetail. It unwraps to the original, so errors.Is and errors.As
// still see the cause.
type detailError struct {
	msg string
	err error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.err }

// sanitizeError returns err with a message safe to keep, publish and log,
// or err itself when its message needs no change.
func sanitizeError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := sanitizeDetail(msg); clean != msg {
		return &detailError{msg: clean, err: err}
	}
	return err
}
