//go:build !linux

package compat

import "os/exec"

// setParentDeathSignal: only Linux has a parent-death signal; elsewhere
// t.Cleanup is the only guard.
func setParentDeathSignal(*exec.Cmd) {}
