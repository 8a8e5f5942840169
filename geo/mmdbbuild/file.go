package mmdbbuild

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Input formats accepted by BuildFile.
const (
	// FormatTor is Tor's geoip and geoip6 files; see ReadTor.
	FormatTor = "tor"
	// FormatCSV is the CSV format described on ReadCSV.
	FormatCSV = "csv"
)

// BuildFile reads inputs in format (FormatTor or FormatCSV), writes an MMDB
// database of type dbType ("" means TypeCity) to out, and returns how many
// networks the database holds.
//
// With FormatTor there are one or two inputs: a file whose name ends in "6"
// is read as IPv6 (geoip6), and of two inputs where neither name ends in
// "6", the second is. With FormatCSV every input is read and their entries
// are combined.
//
// The database is written to a temporary file in the directory of out and
// renamed over out only when complete, so readers watching out never see a
// partial file. Errors name the file, and the line where there is one.
func BuildFile(format string, inputs []string, out string, dbType string) (count int, err error) {
	return BuildFileOptions(format, inputs, out, Options{DatabaseType: dbType})
}

// BuildFileOptions is BuildFile with full control over the database
// metadata, for example a fixed build time for reproducible output.
func BuildFileOptions(format string, inputs []string, out string, opts Options) (count int, err error) {
	if len(inputs) == 0 {
		return 0, errors.New("mmdbbuild: no input files")
	}
	if out == "" {
		return 0, errors.New("mmdbbuild: no output file")
	}
	var entries []Entry
	switch strings.ToLower(format) {
	case FormatTor:
		if len(inputs) > 2 {
			return 0, fmt.Errorf("mmdbbuild: tor format takes one or two inputs (geoip, geoip6), got %d", len(inputs))
		}
		ipv6 := make([]bool, len(inputs))
		for i, in := range inputs {
			ipv6[i] = strings.HasSuffix(in, "6")
		}
		if len(inputs) == 2 && !ipv6[0] && !ipv6[1] {
			ipv6[1] = true
		}
		for i, in := range inputs {
			e, err := readFile(in, func(f *os.File) ([]Entry, error) { return ReadTor(f, ipv6[i]) })
			if err != nil {
				return 0, err
			}
			entries = append(entries, e...)
		}
	case FormatCSV:
		for _, in := range inputs {
			e, err := readFile(in, func(f *os.File) ([]Entry, error) { return ReadCSV(f) })
			if err != nil {
				return 0, err
			}
			entries = append(entries, e...)
		}
	default:
		return 0, fmt.Errorf("mmdbbuild: unknown input format %q (want %s or %s)", format, FormatTor, FormatCSV)
	}
	return writeFileAtomic(out, entries, opts)
}

// readFile opens name and parses it with parse, adding the file name to
// line errors.
func readFile(name string, parse func(*os.File) ([]Entry, error)) ([]Entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("mmdbbuild: %w", err)
	}
	defer f.Close()
	entries, err := parse(f)
	if err != nil {
		var le *LineError
		if errors.As(err, &le) {
			le.File = name
			return nil, le
		}
		return nil, fmt.Errorf("mmdbbuild: %s: %w", name, err)
	}
	return entries, nil
}

// writeFileAtomic writes the database to a temporary file beside out and
// renames it into place.
func writeFileAtomic(out string, entries []Entry, opts Options) (count int, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("mmdbbuild: write %s: %w", out, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriter(tmp)
	count, err = WriteOptions(bw, entries, opts)
	if err != nil {
		return 0, err
	}
	if err = bw.Flush(); err != nil {
		return 0, fmt.Errorf("mmdbbuild: write %s: %w", out, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return 0, fmt.Errorf("mmdbbuild: write %s: %w", out, err)
	}
	if err = tmp.Sync(); err != nil {
		return 0, fmt.Errorf("mmdbbuild: write %s: %w", out, err)
	}
	if err = tmp.Close(); err != nil {
		return 0, fmt.Errorf("mmdbbuild: write %s: %w", out, err)
	}
	if err = os.Rename(tmp.Name(), out); err != nil {
		return 0, fmt.Errorf("mmdbbuild: write %s: %w", out, err)
	}
	return count, nil
}
