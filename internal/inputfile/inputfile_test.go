//go:build unix

package inputfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression: a FIFO given as an input hung the command in open until a writer appeared.
func TestRefusesWhatIsNotARegularFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "x.npy")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	loop := filepath.Join(dir, "loop")
	require.NoError(t, os.Symlink(loop, loop))
	done := make(chan error, 1)
	go func() { _, _, err := Open(fifo); done <- err }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrUnreadable)
		assert.ErrorIs(t, err, ErrNotRegular)
		assert.ErrorContains(t, err, "it is a named pipe (FIFO)")
	case <-time.After(10 * time.Second):
		t.Fatal("Open blocked on a FIFO")
	}
	for _, c := range []struct{ path, want string }{
		{dir, "a directory"},
		{loop, "too many levels of symbolic links"},
		{filepath.Join(dir, "none"), "no such file"},
	} {
		_, _, err := Open(c.path)
		require.ErrorIs(t, err, ErrUnreadable, c.path)
		assert.ErrorContains(t, err, c.want)
	}
	_, _, err := Open(filepath.Join(dir, "none"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestReadFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "a.toml")
	require.NoError(t, os.WriteFile(p, []byte("hello"), 0o644))
	b, err := ReadFile(p, 5)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
	_, err = ReadFile(p, 4)
	require.ErrorIs(t, err, ErrUnreadable)
	assert.ErrorContains(t, err, "holds 5 bytes, more than the 4")
}
