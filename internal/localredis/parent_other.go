//go:build !linux

package localredis

import "os/exec"

// TieToParent does nothing where the kernel cannot signal a child at its
// parent's death: stop what you started.
func TieToParent(*exec.Cmd) {}
