//go:build unix

package data

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// A FIFO named as a corpus is refused at once, not waited on.
func TestLoadCorpusFIFO(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "corpus.txt")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	done := make(chan error, 1)
	go func() { _, err := LoadCorpus(fifo); done <- err }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, inputfile.ErrUnreadable)
		assert.ErrorContains(t, err, "named pipe")
	case <-time.After(10 * time.Second):
		t.Fatal("LoadCorpus blocked on a FIFO")
	}
}
