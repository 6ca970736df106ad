//go:build !unix

package outdir

import (
	"errors"
	"fmt"
	"os"
)

// lockFile is a lock file created exclusively; a file left by a killed process must be
// removed by hand (the error says where).
type lockFile struct{ path string }

func acquire(path string) (*lockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%w: another process is writing it (lock file %s exists; remove it if no run is going on)", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create the lock file: %w", ErrRefused, err)
	}
	f.Close()
	return &lockFile{path: path}, nil
}

func (l *lockFile) release() error {
	if l == nil || l.path == "" {
		return nil
	}
	err := os.Remove(l.path)
	l.path = ""
	return err
}
