package testenv

import "syscall"

// dieWithParent kills the child if the test binary dies without running its cleanups.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
