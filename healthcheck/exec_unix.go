//go:build unix

package healthcheck

import (
	"os/exec"
	"syscall"
)

// killProcessGroup runs cmd in its own process group and makes its
// cancellation kill the whole group, so a script's children die with it at
// the timeout instead of outliving the probe.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
