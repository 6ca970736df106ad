//go:build unix

package outdir

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// lockFile is an exclusive advisory lock (flock) on a file that is removed when released.
type lockFile struct {
	path string
	f    *os.File
}

// acquire takes the lock at path without waiting. The file is removed on release; a lock file
// left by a killed process holds no lock and is taken over. Because another process may have
// removed and recreated the file between our open and our lock, the lock counts only when
// the locked file is still the one at path.
func acquire(path string) (*lockFile, error) {
	for range 8 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot create the lock file: %w", ErrRefused, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: another process is writing it (lock %s held)", ErrLocked, path)
			}
			return nil, fmt.Errorf("%w: locking %s: %w", ErrRefused, path, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			// A file of the user's of that name is not ours to overwrite or remove.
			if !ownLockFile(f, held.Size()) {
				f.Close()
				return nil, fmt.Errorf("%w: %s exists and is not a lock file of this program; move it away", ErrRefused, path)
			}
			if err := f.Truncate(0); err == nil {
				f.WriteAt([]byte(fmt.Sprintf("%s%d\n", lockHeader, os.Getpid())), 0)
			}
			return &lockFile{path: path, f: f}, nil
		}
		f.Close() // the file was replaced while we locked it: try again
	}
	return nil, fmt.Errorf("%w: the lock file %s keeps changing", ErrLocked, path)
}

// lockHeader starts every lock file this package writes, followed by the holder's pid.
const lockHeader = "wtacrs lock, held by process "

// ownLockFile reports whether the open lock file of the given size is empty (just created, or
// left empty by a crash) or one this package wrote: its header and a pid, or, as earlier
// versions wrote it, a pid alone.
func ownLockFile(f *os.File, size int64) bool {
	if size == 0 {
		return true
	}
	if size > 256 {
		return false
	}
	b := make([]byte, size)
	n, _ := f.ReadAt(b, 0)
	text := string(b[:n])
	if strings.HasPrefix(text, lockHeader) {
		return true
	}
	pid := strings.TrimSuffix(text, "\n")
	return pid != "" && strings.Trim(pid, "0123456789") == ""
}

func (l *lockFile) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	os.Remove(l.path) // while still holding the lock, so no one else holds this file
	err := l.f.Close()
	l.f = nil
	return err
}
