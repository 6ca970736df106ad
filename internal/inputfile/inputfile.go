// Package inputfile opens the files a user names as inputs (configurations, .npy arrays, TSV
// data, vocabularies) so that no such path can hang or mislead a command: a FIFO, a device, a
// socket or a directory is refused at once with a clear error instead of blocking in open or
// being read as data, and every failure to open wraps [ErrUnreadable] so that a command reports
// it as an input error.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrUnreadable reports an input path that cannot be opened as a regular file: missing,
// unreadable, a directory, a FIFO or another special file, a symbolic-link loop.
var ErrUnreadable = errors.New("cannot read the input")

// ErrNotRegular reports an input path that exists but is not a regular file (a directory, a
// FIFO, a device or a socket); such errors wrap ErrUnreadable too.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading and returns it with its size. The file is opened without
// blocking (a FIFO with no writer would otherwise hang) and refused unless it is a regular
// file. Errors wrap ErrUnreadable and, for a failed open, the os error (so errors.Is(err,
// fs.ErrNotExist) still holds).
func Open(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %s: %w (it is %s)", ErrUnreadable, path, ErrNotRegular, kind(st.Mode()))
	}
	return f, st.Size(), nil
}

// ReadFile reads the whole regular file at path, refusing one larger than limit bytes (with
// both figures). Errors wrap ErrUnreadable.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, size, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > limit {
		return nil, fmt.Errorf("%w: %s holds %d bytes, more than the %d this input may have", ErrUnreadable, path, size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreadable, path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s grew beyond %d bytes while it was read", ErrUnreadable, path, limit)
	}
	return b, nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
