package e2e

import "syscall"

// dieWithParent kills the manager if the test binary dies without running its cleanups.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
