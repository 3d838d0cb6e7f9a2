//go:build !linux

package harnesstest

import "os/exec"

// dieWithParent: only Linux has a parent-death signal; elsewhere Run (or the test's own
// cleanup) stops the gateway.
func dieWithParent(cmd *exec.Cmd) {}
