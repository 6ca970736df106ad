// Package atomicfile writes files so that a reader, or a run interrupted half-way, never sees a
// partial file: the content goes to a temporary file in the destination's folder, which is then
// renamed over the destination.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes data to path (mode 0644) atomically. On error path is left as it was and no
// temporary file remains.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write writes what fn produces to path (mode 0644) atomically, through a buffered writer. An
// error of fn is returned as it is; other errors name path. On error path is left as it was and
// no temporary file remains. When path is a symbolic link, the file it points to is replaced
// (the link stays a link).
func Write(path string, fn func(io.Writer) error) (err error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	} else if st, lerr := os.Lstat(path); lerr == nil && st.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("writing %s: a symbolic link whose target cannot be resolved: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriter(f)
	if err := fn(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// The data reach the disk before the rename makes them visible, so that a crash (of the
	// machine, not only of the program) leaves the old file or the whole new one.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	SyncDir(filepath.Dir(path))
	return nil
}

// SyncDir flushes a directory's entries (a rename into it) to disk, best effort: some file
// systems cannot sync a directory, and the rename is done regardless.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
