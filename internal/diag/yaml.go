package diag

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// syntaxRe splits a go-yaml syntax error into its line and message.
var syntaxRe = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// SyntaxError returns the line and the message of a YAML syntax error that
// go-yaml returned for src, or ok false when err is not one.
//
// go-yaml reports the line where the enclosing mapping or list begins
// rather than the line it stumbled on: an indentation mistake on line 8 of
// a file whose top-level mapping starts on line 1 is "line 1: did not find
// expected key". The real line is the first whose prefix of the file fails
// with the same message, which is found by parsing prefixes. The message
// gets a hint for the common mistakes, which are nearly all indentation.
func SyntaxError(src []byte, err error) (line int, msg string, ok bool) {
	m := syntaxRe.FindStringSubmatch(err.Error())
	if m == nil || strings.Contains(m[2], "cannot unmarshal") || strings.Contains(err.Error(), "\n") {
		return 0, "", false
	}
	reported, _ := strconv.Atoi(m[1])
	msg = m[2]
	line = reported
	if reported > 0 {
		line = firstFailingLine(src, reported, msg)
	}
	return line, msg + hint(msg, src, line, reported), true
}

// firstFailingLine returns the first line from `from` on such that the
// file up to and including it fails to parse with message msg. Parsing
// stops at the first error, so once the line of the mistake is included
// every longer prefix fails the same way: a binary search finds it.
func firstFailingLine(src []byte, from int, msg string) int {
	ends := lineEnds(src)
	if from > len(ends) {
		return from
	}
	fails := func(k int) bool {
		var n yaml.Node
		err := yaml.Unmarshal(src[:ends[k-1]], &n)
		if err == nil {
			return false
		}
		m := syntaxRe.FindStringSubmatch(err.Error())
		return m != nil && m[2] == msg
	}
	lo, hi := from, len(ends)
	if !fails(hi) {
		return from
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// lineEnds returns the offset just past each line of src (past its
// newline, or the end of src for a last line without one).
func lineEnds(src []byte) []int {
	var ends []int
	for i := 0; ; {
		j := bytes.IndexByte(src[i:], '\n')
		if j < 0 {
			if i < len(src) {
				ends = append(ends, len(src))
			}
			return ends
		}
		i += j + 1
		ends = append(ends, i)
	}
}

// hint says what usually causes a go-yaml syntax error, "" when there is
// nothing useful to add.
func hint(msg string, src []byte, line, reported int) string {
	text := ""
	if ends := lineEnds(src); line >= 1 && line <= len(ends) {
		start := 0
		if line > 1 {
			start = ends[line-2]
		}
		text = string(src[start:ends[line-1]])
	}
	switch {
	case strings.Contains(text, "\t") && (strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token")):
		return " (indent with spaces: YAML does not allow tabs)"
	case strings.Contains(msg, "tab character"):
		return " (indent with spaces: YAML does not allow tabs)"
	case msg == "mapping values are not allowed in this context":
		return ` (check this line's indentation against the lines above it; a value that contains ": " must be quoted)`
	case msg == "did not find expected key":
		return " (this line is not indented like the other keys of the mapping it belongs to)"
	case msg == "did not find expected '-' indicator":
		return ` (this line is not indented like the "- " items of the list above it)`
	case msg == "could not find expected ':'":
		return ` (a key here lacks its ":", or the line is indented as if it continued the one above)`
	case strings.HasPrefix(msg, "did not find expected ',' or"):
		if reported > 0 && reported != line {
			return fmt.Sprintf(" (the [ ] or { } opened on line %d is not closed)", reported)
		}
		return " (a [ ] or { } is not closed)"
	}
	return ""
}

// typeErrRe picks go-yaml's wording of a value that does not fit the Go
// type it is decoded into.
var typeErrRe = regexp.MustCompile("^(?:line (\\d+): )?cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// TypeError rewords one of the messages of a go-yaml TypeError ("line 4:
// cannot unmarshal !!str `soon` into uint32") as what the value should have
// been, in the operator's words, naming the key when root (the node that
// was decoded) shows it: `ttl: "soon" is not a whole number from 0 to
// 4294967295`. It returns the line and that text, or ok false when msg is
// not such a message.
func TypeError(root *yaml.Node, msg string) (line int, text string, ok bool) {
	m := typeErrRe.FindStringSubmatch(strings.TrimSpace(msg))
	if m == nil {
		return 0, "", false
	}
	line, _ = strconv.Atoi(m[1])
	tag, value, goType := m[2], m[3], m[4]
	key, full := locate(root, line, tag, value)
	if full != "" {
		value = full
	}
	var got string
	switch tag {
	case "seq":
		got = "a list"
	case "map":
		got = "a mapping"
	default:
		got = strconv.Quote(value)
	}
	text = got + " is not " + want(goType)
	if key != "" {
		text = key + ": " + text
	}
	return line, text, true
}

// want describes what a value of Go type t looks like in YAML.
func want(t string) string {
	switch t {
	case "uint8":
		return "a whole number from 0 to 255"
	case "uint16":
		return "a whole number from 0 to 65535"
	case "uint32":
		return "a whole number from 0 to 4294967295"
	case "uint", "uint64":
		return "a whole number of 0 or more"
	case "int", "int8", "int16", "int32", "int64":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a single value (quote it if it is text)"
	case "time.Duration":
		return `a duration such as "10s" or "500ms"`
	}
	switch {
	case strings.HasPrefix(t, "[]"), strings.HasPrefix(t, "["):
		return "a list (write [a, b], or one item per line starting with \"- \")"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "."):
		return "a mapping of keys and values"
	}
	return "of the expected kind"
}

// locate finds, below root, the value go-yaml complained about (at line,
// of tag kind, its text starting with value, which go-yaml shortens to 7
// characters and "...") and returns the key it sits under and its full
// text.
func locate(root *yaml.Node, line int, tag, value string) (key, full string) {
	prefix := strings.TrimSuffix(value, "...")
	var walk func(n *yaml.Node, under string) bool
	walk = func(n *yaml.Node, under string) bool {
		if n == nil {
			return false
		}
		if n.Line == line && matches(n, tag, prefix) {
			key, full = under, n.Value
			return true
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if walk(c, under) {
					return true
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if walk(n.Content[i+1], n.Content[i].Value) {
					return true
				}
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if walk(c, under) {
					return true
				}
			}
		}
		return false
	}
	walk(root, "")
	return key, full
}

func matches(n *yaml.Node, tag, prefix string) bool {
	switch tag {
	case "seq":
		return n.Kind == yaml.SequenceNode
	case "map":
		return n.Kind == yaml.MappingNode
	}
	return n.Kind == yaml.ScalarNode && strings.HasPrefix(n.Value, prefix)
}
