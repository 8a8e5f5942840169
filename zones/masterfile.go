package zones

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// record is one resource record as loaded, with the line it came from.
type record struct {
	rr   dns.RR
	line int
}

// parseErrRe picks the message, the quoted token and the line out of a
// miekg/dns ParseError, whose fields are not exported.
var parseErrRe = regexp.MustCompile(`dns: (.*): ("(?:[^"\\]|\\.)*") at line: (\d+):\d+$`)

// parseRecords parses RFC 1035 master-file text relative to origin. Line
// numbers in errors and in the returned records are shifted by lineOffset so
// they point into the file that holds the text. $INCLUDE is not allowed: a
// zone's data lives in the files its zone file names. Every record is
// counted in count, and parsing stops with an error as soon as the zone has
// more than its limit.
func parseRecords(text, origin string, defaultTTL uint32, lineOffset int, count *recordCount) ([]record, error) {
	lines, err := entryLines(text, count)
	if err != nil {
		if le, ok := err.(*lineError); ok {
			le.line += lineOffset
		}
		return nil, err
	}
	// The zone's ttl is given to the parser as a $TTL line before the text,
	// so that it is the default of every record without a TTL of its own
	// (RFC 2308), not only of those before the first explicit TTL (RFC 1035's
	// "last stated TTL", which SetDefaultTTL alone would apply). The line
	// numbers the parser reports are one more for it.
	zp := dns.NewZoneParser(io.MultiReader(strings.NewReader(fmt.Sprintf("$TTL %d\n", defaultTTL)), strings.NewReader(text)), origin, "")
	zp.SetIncludeAllowed(false)
	var out []record
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		line := 0
		if len(out) < len(lines) {
			line = lines[len(out)]
		} else if !count.add(1) {
			// entryLines counted the records it foresaw; any more are
			// counted as the parser makes them.
			return nil, count.err(lineOffset + 1)
		}
		out = append(out, record{rr: rr, line: line + lineOffset})
	}
	if err := zp.Err(); err != nil {
		if m := parseErrRe.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[3])
			tok, _ := strconv.Unquote(m[2])
			return nil, errAt(max(line-1, 1)+lineOffset, "%s", recordErrorText(m[1], tok))
		}
		return nil, errAt(lineOffset+1, "%s", strings.TrimPrefix(err.Error(), "dns: "))
	}
	return out, nil
}

// entryLines returns, for each resource record the master-file text will
// produce, the line on which its entry starts. It follows the RFC 1035
// lexical rules the parser uses: comments, quoted strings, escapes and
// parentheses that continue an entry over several lines. $GENERATE entries
// count once for each record they generate. Each record is counted in
// count, and it fails, before allocating for them, at the entry that takes
// the zone over its limit.
func entryLines(text string, count *recordCount) ([]int, error) {
	out := make([]int, 0, min(strings.Count(text, "\n")+1, count.left()+1))
	var (
		line                    = 1
		depth                   int
		inQuote, inComment, esc bool
		start                   = -1 // line where the current entry's content started
		from                    = -1 // offset of its first character
	)
	flush := func(to int) error {
		if from >= 0 {
			n := 1
			if text[from] == '$' {
				s := text[from:to]
				switch directive(s) {
				case "$GENERATE":
					var err error
					if n, err = generateCount(s); err != nil {
						return errAt(start, "%v", err)
					}
				case "$ORIGIN", "$TTL", "$INCLUDE":
					n = 0
				}
			}
			if !count.add(n) {
				return count.err(start)
			}
			for range n {
				out = append(out, start)
			}
		}
		start, from = -1, -1
		return nil
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\n' {
			inComment = false
			if depth == 0 && !inQuote {
				if err := flush(i); err != nil {
					return nil, err
				}
			}
			line++
			continue
		}
		if inComment {
			continue
		}
		switch {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == ';':
			inComment = true
			continue
		case c == '(':
			depth++
		case c == ')':
			if depth > 0 {
				depth--
			}
		}
		if from < 0 && c != ' ' && c != '\t' && c != '\r' {
			start, from = line, i
		}
	}
	if err := flush(len(text)); err != nil {
		return nil, err
	}
	return out, nil
}

// directive returns the upper-cased first word of an entry when it is one
// of the master-file directives the parser knows (in any case), else "".
func directive(s string) string {
	word := s
	if i := strings.IndexAny(s, " \t\r\n(;"); i >= 0 {
		word = s[:i]
	}
	switch w := strings.ToUpper(word); w {
	case "$ORIGIN", "$TTL", "$INCLUDE", "$GENERATE":
		return w
	}
	return ""
}

// maxGenerate is the most records one $GENERATE may produce; miekg/dns
// refuses larger ranges too, and counting lines for one must not exhaust
// memory first.
const maxGenerate = 65536

// generateCount returns how many records a $GENERATE line produces.
func generateCount(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, fmt.Errorf("bad $GENERATE: a range and a record are required")
	}
	rng, stepS, hasStep := strings.Cut(f[1], "/")
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, fmt.Errorf("bad $GENERATE range %s", quote(f[1]))
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	step := 1
	var err3 error
	if hasStep {
		step, err3 = strconv.Atoi(stepS)
	}
	if err1 != nil || err2 != nil || err3 != nil || step <= 0 || hi < lo || lo < 0 {
		return 0, fmt.Errorf("bad $GENERATE range %s", quote(f[1]))
	}
	if n := (hi-lo)/step + 1; n <= maxGenerate {
		return n, nil
	}
	return 0, fmt.Errorf("$GENERATE range %s makes more than %d records", quote(f[1]), maxGenerate)
}
