//go:build unix

package outdir

import (
	"errors"
	"fmt"
	"os"
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
			fmt.Fprintf(f, "%d\n", os.Getpid())
			return &lockFile{path: path, f: f}, nil
		}
		f.Close() // the file was replaced while we locked it: try again
	}
	return nil, fmt.Errorf("%w: the lock file %s keeps changing", ErrLocked, path)
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
