//go:build !unix

package healthcheck

import "os/exec"

// killProcessGroup leaves cmd's default cancellation in place: outside Unix
// only the command itself is killed at the timeout.
func killProcessGroup(*exec.Cmd) {}
