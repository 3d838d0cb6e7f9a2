package harnesstest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel stop cmd when the thread that starts it ends.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
