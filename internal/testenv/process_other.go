//go:build !linux

package testenv

import "syscall"

// dieWithParent has no portable equivalent off Linux: the cleanups stop the child.
func dieWithParent() *syscall.SysProcAttr { return nil }
