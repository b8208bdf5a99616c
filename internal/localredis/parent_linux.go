package localredis

import (
	"os/exec"
	"syscall"
)

// TieToParent makes cmd's process get SIGKILL when the process that
// starts it dies, however it dies: a test binary killed by its -timeout
// or a benchmark stopped with kill -9 leaves no redis-server or consumer
// behind holding ports and CPU. Linux sends the signal when the starting
// OS thread ends; Go's runtime ends a thread only when a goroutine locked
// to it returns, which none of the starters does.
func TieToParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
