package mmdbbuild

import "fmt"

// LineError reports a problem on one line of an input file. Its message is
// "mmdbbuild: FILE:LINE: problem", or "mmdbbuild: line LINE: problem" when
// the input has no file name.
type LineError struct {
	// File is the input file name, or "" for a reader without a name.
	File string
	// Line is the 1-based line number.
	Line int
	// Err is the problem.
	Err error
}

// Error implements error.
func (e *LineError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("mmdbbuild: %s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("mmdbbuild: line %d: %v", e.Line, e.Err)
}

// Unwrap returns the problem.
func (e *LineError) Unwrap() error { return e.Err }

// lineErrorf builds a *LineError for line.
func lineErrorf(line int, format string, args ...any) error {
	return &LineError{Line: line, Err: fmt.Errorf(format, args...)}
}
