package zones

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meridian-dns/meridian/internal/capped"
)

// Limits bounds what loading the zones may read and build, so that a zone
// file cannot exhaust the server's memory. A zero field takes its default.
type Limits struct {
	// FileBytes is the largest zone file or records_file read, in bytes
	// (limits.zone_file_bytes).
	FileBytes int64
	// Records is the most records one zone may hold, counted after
	// $GENERATE expansion (limits.zone_records).
	Records int
}

// Defaults of Limits.
const (
	DefaultFileBytes = capped.DefaultBytes
	DefaultRecords   = 5_000_000
)

func (l Limits) orDefaults() Limits {
	if l.FileBytes <= 0 {
		l.FileBytes = DefaultFileBytes
	}
	if l.Records <= 0 {
		l.Records = DefaultRecords
	}
	return l
}

// recordCount counts the records of one zone against limits.zone_records.
type recordCount struct {
	n, limit int
}

// add counts n more records and reports whether the zone is still within
// its limit.
func (c *recordCount) add(n int) bool {
	c.n += n
	return c.n <= c.limit
}

// left is how many more records the zone may hold.
func (c *recordCount) left() int { return max(c.limit-c.n, 0) }

// err is the error for the entry on line that took the zone over its limit.
func (c *recordCount) err(line int) error {
	return errAt(line, "the zone has more than %d records (limits.zone_records)", c.limit)
}

// errOutside is the error for a path that resolves outside the zones
// directory.
var errOutside = errors.New("resolves outside the zones directory")

// zoneDir reads the files of one zones directory: only regular files that
// resolve, symbolic links followed, inside the directory, and each only up
// to the byte limit. So a zone file can make Meridian read (and quote in an
// error) no file elsewhere, and cannot make it wait on a FIFO or read a
// device without end.
type zoneDir struct {
	abs  string // the directory as given, made absolute
	real string // abs with symbolic links resolved
	// root is opened at real; a path opened through it cannot leave it,
	// even when a symbolic link is swapped in after the path was resolved.
	root  *os.Root
	limit int64
}

// openZoneDir opens dir for reading zone files of at most limit bytes.
func openZoneDir(dir string, limit int64) (*zoneDir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(real)
	if err != nil {
		return nil, err
	}
	return &zoneDir{abs: abs, real: real, root: root, limit: limit}, nil
}

// Close releases the directory.
func (d *zoneDir) Close() error { return d.root.Close() }

// read reads the file at path, absolute or relative to the working
// directory. A path outside the directory is refused before anything is
// looked up, a path that resolves outside it before it is opened.
func (d *zoneDir) read(path string) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if !within(d.abs, abs) && !within(d.real, abs) {
		return nil, errOutside
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	if !within(d.real, real) {
		return nil, errOutside
	}
	rel, err := filepath.Rel(d.real, real)
	if err != nil {
		return nil, err
	}
	f, err := d.root.OpenFile(rel, capped.OpenFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return capped.Read(f, d.limit)
}

// within reports whether path lies below dir; both are absolute and clean.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// maxQuoted is the most bytes of a zone file that an error quotes.
const maxQuoted = 40

// quote returns s as an error may show it: quoted like %q, so non-printable
// characters are escaped, and cut after maxQuoted bytes (marked "...") so
// that an error never echoes a whole line of a file.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// bounded returns an error message with every quoted string in it cut as by
// quote, and every other non-printable character escaped. It is the last
// guard, applied to every error about a zone file, that a message quotes no
// more of a file than a short token and cannot carry control characters
// into a log or terminal.
func bounded(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); {
		if msg[i] == '"' {
			if q, err := strconv.QuotedPrefix(msg[i:]); err == nil {
				i += len(q)
				if s, err := strconv.Unquote(q); err == nil && len(s) > maxQuoted {
					q = quote(s)
				}
				b.WriteString(q)
				continue
			}
		}
		r, n := utf8.DecodeRuneInString(msg[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, msg[i])
		case !strconv.IsPrint(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(msg[i : i+n])
		}
		i += n
	}
	return b.String()
}
