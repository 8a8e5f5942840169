package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/internal/diag"
)

// keyTypes maps every key of Config, dotted as in the file, to the Go
// type of its field, read from the mapstructure tags.
var keyTypes = sync.OnceValue(func() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			switch {
			case name == "-" || !f.IsExported():
			case opts == "squash":
				walk(f.Type, prefix)
			case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]():
				walk(f.Type, prefix+name+".")
			default:
				out[prefix+name] = f.Type
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
})

// knownKeys returns every key and every section (geoip, http...), sorted,
// for suggestions.
func knownKeys() []string {
	seen := map[string]bool{}
	for k := range defaults {
		seen[k] = true
		for i := strings.IndexByte(k, '.'); i >= 0; i = nextDot(k, i) {
			seen[k[:i]] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// unknownKey is the error for a key of the file Meridian does not know,
// with the known key it most likely meant.
func unknownKey(path string, line int, key string) error {
	return fmt.Errorf("config: %s:%d: unknown key %q%s", path, line, key, diag.DidYouMean(key, knownKeys()))
}

// syntaxError is the error for a file that is not valid YAML, at the line
// of the mistake.
func syntaxError(path string, src []byte, err error) error {
	if line, msg, ok := diag.SyntaxError(src, err); ok {
		return fmt.Errorf("config: %s:%d: %s", path, line, msg)
	}
	return fmt.Errorf("config: %s: %w", path, err)
}

// checkValue reports a value of the file that does not fit its key, with
// its line: a word where a number goes, a list where one value goes.
func checkValue(path, key string, n *yaml.Node) error {
	t, ok := keyTypes()[key]
	if !ok || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	bad := func(want string) error {
		got := strconv.Quote(n.Value)
		switch n.Kind {
		case yaml.SequenceNode:
			got = "a list"
		case yaml.MappingNode:
			got = "a mapping"
		}
		return fmt.Errorf("config: %s:%d: %s: %s is not %s", path, n.Line, key, got, want)
	}
	if t.Kind() == reflect.Slice {
		switch n.Kind {
		case yaml.ScalarNode:
			return nil // a single value, or several separated by commas
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if c.Kind != yaml.ScalarNode {
					return fmt.Errorf("config: %s:%d: %s: each item of the list is one value", path, c.Line, key)
				}
			}
			return nil
		}
		return bad(`a list (write [a, b], or one item per line starting with "- ")`)
	}
	if t.Kind() == reflect.Map {
		if n.Kind != yaml.MappingNode {
			return bad(`a mapping (one "name: value" per line)`)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Kind != yaml.ScalarNode || n.Content[i+1].Kind != yaml.ScalarNode {
				return fmt.Errorf("config: %s:%d: %s: each entry is \"name: value\"", path, n.Content[i].Line, key)
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return bad("a single value")
	}
	if want := scalarProblem(t, n.Value, n.Tag); want != "" {
		return bad(want)
	}
	return nil
}

// scalarProblem returns what a value of type t looks like when text (of
// YAML tag tag, "" when it came from elsewhere) is not one, else "".
func scalarProblem(t reflect.Type, text, tag string) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		if _, err := time.ParseDuration(text); err != nil || tag == "!!int" || tag == "!!float" {
			return `a duration such as "10s" or "500ms"`
		}
	case t.Kind() == reflect.Bool:
		if tag != "" && tag != "!!bool" {
			return "true or false"
		}
		if _, err := strconv.ParseBool(text); tag == "" && err != nil {
			return "true or false"
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		if _, err := strconv.ParseInt(text, 0, 64); err != nil {
			return "a whole number"
		}
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		if _, err := strconv.ParseUint(text, 0, 64); err != nil {
			return "a whole number of 0 or more"
		}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			return "a number"
		}
	}
	return ""
}

// decodeKeyRe picks the key out of one of mapstructure's decoding errors.
var decodeKeyRe = regexp.MustCompile(`'([\w.]+)(?:\[\d+\])?' `)

// decodeError rewords the error of decoding the merged settings. Values of
// the file have been checked with their lines by then, so what fails here
// came from the environment or a flag: the error names the key, where its
// value came from and what it should be, not the Go types involved.
func decodeError(where string, err error, fs *pflag.FlagSet) error {
	var msgs []string
	for _, m := range decodeKeyRe.FindAllStringSubmatch(err.Error(), -1) {
		key := m[1]
		value, from := valueSource(key, fs)
		want := "of the right kind"
		if t, ok := keyTypes()[key]; ok {
			if p := scalarProblem(t, value, ""); p != "" {
				want = p
			} else if t.Kind() == reflect.Slice {
				want = "a list of values separated by commas"
			}
		}
		msg := key + ": "
		if from != "" {
			msg += fmt.Sprintf("%q (from %s) ", value, from)
		}
		msgs = append(msgs, msg+"is not "+want)
	}
	if len(msgs) == 0 {
		return fmt.Errorf("config: %s: %w", where, err)
	}
	return fmt.Errorf("config: %s: %s", where, strings.Join(msgs, "; "))
}

// valueSource returns the value of key given by a flag or the environment,
// and which one ("--log-level", "MERIDIAN_LOG_LEVEL"); "" for the file.
func valueSource(key string, fs *pflag.FlagSet) (value, from string) {
	if fs != nil {
		for flag, k := range flagKeys {
			if f := fs.Lookup(flag); k == key && f != nil && f.Changed {
				return f.Value.String(), "--" + flag
			}
		}
	}
	env := "MERIDIAN_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
	if v, ok := os.LookupEnv(env); ok {
		return v, env
	}
	return "", ""
}

// notASection is the error for a section (geoip, http...) given something
// other than a mapping of its keys; an empty section is no error.
func notASection(path, section string, n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	got := strconv.Quote(n.Value)
	if n.Kind == yaml.SequenceNode {
		got = "a list"
	}
	var keys []string
	for _, k := range knownKeys() {
		if rest, ok := strings.CutPrefix(k, section+"."); ok && !strings.Contains(rest, ".") {
			keys = append(keys, rest)
		}
	}
	return fmt.Errorf("config: %s:%d: %s: %s is not a mapping of its keys (%s)", path, n.Line, section, got, strings.Join(keys, ", "))
}
