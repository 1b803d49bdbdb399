package command

import "syscall"

// procAttr puts the command in a process group of its own and has the
// kernel SIGKILL it when the runner dies, even by SIGKILL, so that a trial
// retried elsewhere never runs beside a ghost of itself. Pdeathsig fires
// when the thread that started the child exits, not the process (Go issue
// 27505): start runs the child from a goroutine locked to its OS thread
// for the child's whole life, so that thread outlives it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
