// Package capped reads configuration files with a bound on their size, so
// that a file named by configuration can neither exhaust memory nor block
// the reader: only regular files are read, and never more than a cap.
package capped

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// DefaultBytes is the default cap, the default of limits.zone_file_bytes:
// 64 MiB.
const DefaultBytes = 64 << 20

// OpenFlags are the flags to open a file that Read will read. O_NONBLOCK
// makes opening a FIFO return at once instead of waiting for a writer, so
// that Read can refuse it; it changes nothing for a regular file.
const OpenFlags = os.O_RDONLY | syscall.O_NONBLOCK

// ErrNotRegular is returned for a device, FIFO, socket or directory.
var ErrNotRegular = errors.New("not a regular file")

// TooLargeError is returned for a file holding more than Limit bytes.
type TooLargeError struct {
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("larger than %d bytes (limits.zone_file_bytes)", e.Limit)
}

// ReadFile reads the regular file at path, or fails when it holds more than
// limit bytes. Its errors name the path, like those of os.ReadFile.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, OpenFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := Read(f, limit)
	if _, named := err.(*fs.PathError); err != nil && !named {
		err = &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return b, err
}

// Read reads all of f, which must be a regular file (opened with
// OpenFlags) of at most limit bytes. The size is counted while reading, not
// only taken from the file's metadata, which can be wrong (files in /proc
// report 0) or change while it is read. Its own errors are ErrNotRegular
// and *TooLargeError, without the path.
func Read(f *os.File, limit int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, ErrNotRegular
	}
	if fi.Size() > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + bytes.MinRead)
	n, err := buf.ReadFrom(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	return buf.Bytes(), nil
}
