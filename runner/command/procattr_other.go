//go:build !linux

package command

import "syscall"

// procAttr puts the command in a process group of its own. Outside Linux
// there is no parent-death signal: a runner killed with SIGKILL leaves its
// command running.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
