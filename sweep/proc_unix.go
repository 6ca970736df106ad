//go:build unix

package sweep

import (
	"errors"
	"syscall"
)

// processAlive reports whether pid names a process of this machine (one of another user's
// counts).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
