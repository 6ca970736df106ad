//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/train"
)

// Ctrl-C: the trainer interrupts its own process midway; wtacrs run stops, exits 130 (128 +
// SIGINT) and leaves the earlier outputs as they were.
func TestRunCommandInterrupt(t *testing.T) {
	cfg := writeConfig(t, "[analysis]\nevery = 4\n[train]\nepochs = 1\n")
	out := t.TempDir()
	experimentTrain = stubTrain
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"run", "-out", out, cfg}, &stdout, &stderr), stderr.String())
	before, err := os.ReadFile(filepath.Join(out, "exp", "layers.csv"))
	require.NoError(t, err)

	experimentTrain = func(ctx context.Context, c train.Config, opt train.Options) (*train.Result, error) {
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return nil, errors.New("SIGINT did not cancel the context")
		}
	}
	defer func() { experimentTrain = train.Run }()
	stderr.Reset()
	code := run([]string{"run", "-out", out, cfg}, &stdout, &stderr)
	assert.Equal(t, 130, code)
	assert.Contains(t, stderr.String(), "interrupted")
	after, err := os.ReadFile(filepath.Join(out, "exp", "layers.csv"))
	require.NoError(t, err)
	assert.Equal(t, before, after)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}
