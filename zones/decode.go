package zones

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/internal/diag"
)

// lineError is an error that knows the line of the zone file it is about.
// The loader adds the file name when it reports it.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("line %d: %s", e.line, e.msg)
	}
	return e.msg
}

func errAt(line int, format string, args ...any) error {
	return &lineError{line: line, msg: fmt.Sprintf(format, args...)}
}

// yamlLineRe finds the "line N: message" parts of go-yaml's unmarshal errors.
var yamlLineRe = regexp.MustCompile(`line (\d+): (.*)`)

// decodeStrict decodes n into v and rejects mapping keys that v's struct
// types do not name, so that a misspelt key is an error with its line rather
// than a silently ignored setting.
func decodeStrict(n *yaml.Node, v any) error {
	if err := checkKeys(n, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			if line, text, ok := diag.TypeError(n, te.Errors[0]); ok {
				return errAt(line, "%s", text)
			}
		}
		return yamlError(err, n.Line)
	}
	return nil
}

// syntaxError turns go-yaml's error for a file that does not parse into a
// lineError at the line of the mistake, with a hint at its usual cause.
func syntaxError(src []byte, err error) error {
	if line, msg, ok := diag.SyntaxError(src, err); ok {
		return errAt(line, "%s", msg)
	}
	return yamlError(err, 1)
}

// yamlError turns go-yaml's multi-line errors into a lineError for the first
// problem it names.
func yamlError(err error, fallbackLine int) error {
	if le, ok := err.(*lineError); ok {
		return le
	}
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return errAt(line, "%s", strings.TrimSpace(m[2]))
	}
	return errAt(fallbackLine, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// checkKeys walks n alongside the Go type t and reports the first mapping key
// that has no field. Types with their own UnmarshalYAML check themselves.
func checkKeys(n *yaml.Node, t reflect.Type) error {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return checkKeys(n.Content[0], t)
	}
	if n.Kind == yaml.AliasNode {
		return checkKeys(n.Alias, t)
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		if reflect.PointerTo(t).Implements(unmarshalerType) {
			return nil
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				return errAt(k.Line, "unknown key %q%s", k.Value, diag.DidYouMean(k.Value, slices.Sorted(maps.Keys(fields))))
			}
			if err := checkKeys(v, ft); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				if err := checkKeys(n.Content[i], t.Elem()); err != nil {
					return err
				}
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				if err := checkKeys(c, t.Elem()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// yamlFields maps the yaml keys of struct type t to their field types,
// following inline fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// Ordered is a YAML mapping that keeps its keys in file order, with the
// line of each key, so that "the first region" means what the operator wrote.
type Ordered[T any] struct {
	Keys   []string
	Values map[string]T
	Lines  map[string]int
}

// Len returns the number of entries.
func (o *Ordered[T]) Len() int { return len(o.Keys) }

// UnmarshalYAML decodes a mapping strictly, rejecting duplicate keys.
func (o *Ordered[T]) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errAt(n.Line, "expected a mapping")
	}
	o.Values = make(map[string]T, len(n.Content)/2)
	o.Lines = make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := o.Values[k.Value]; dup {
			return errAt(k.Line, "duplicate key %q", k.Value)
		}
		var val T
		if v.Kind == yaml.SequenceNode || v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			if reflect.TypeOf(val).Kind() == reflect.Struct {
				what := strconv.Quote(v.Value)
				if v.Kind == yaml.SequenceNode {
					what = "a list"
				}
				return errAt(v.Line, "%s: %s is not a mapping of its settings (key: value lines indented below it, or { key: value, ... })", k.Value, what)
			}
		}
		if err := decodeStrict(v, &val); err != nil {
			return err
		}
		o.Keys = append(o.Keys, k.Value)
		o.Values[k.Value] = val
		o.Lines[k.Value] = k.Line
	}
	return nil
}
