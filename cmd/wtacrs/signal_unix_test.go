//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/train"
)

// TestHelperProcess is not a test: it is the wtacrs process that the signal tests start and
// signal. WTACRS_HELPER chooses the trainer: "stubborn" ignores cancellation (a slow step),
// "polite" stops when cancelled.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("WTACRS_HELPER")
	if mode == "" {
		t.Skip("helper process for the signal tests")
	}
	experimentTrain = func(ctx context.Context, c train.Config, opt train.Options) (*train.Result, error) {
		os.Stdout.WriteString("training\n")
		if mode == "polite" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		time.Sleep(time.Minute)
		return nil, errors.New("not interrupted")
	}
	args := os.Args
	for len(args) > 0 && args[0] != "--" {
		args = args[1:]
	}
	os.Exit(run(args[1:], os.Stdout, os.Stderr))
}

// lockedBuffer is a bytes.Buffer safe for the child's writer and the test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startHelper runs wtacrs run in a child process and waits until it trains.
func startHelper(t *testing.T, mode string, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "WTACRS_HELPER="+mode)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 64)
	var seen string
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(seen, "training") && time.Now().Before(deadline) {
		n, err := stdout.Read(buf)
		seen += string(buf[:n])
		if err != nil {
			break
		}
	}
	require.Contains(t, seen, "training", stderr.String())
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return cmd, stderr
}

func exitCode(t *testing.T, cmd *exec.Cmd) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), time.Since(start)
	}
	require.NoError(t, err)
	return 0, time.Since(start)
}

// Regression: a second Ctrl-C waited for the current step (43 s on a slow model).
func TestSecondInterruptQuitsAtOnce(t *testing.T) {
	out := t.TempDir()
	cmd, stderr := startHelper(t, "stubborn", "run", "-out", out, writeConfig(t, "[train]\nepochs = 1\n"))
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	code, took := exitCode(t, cmd)
	assert.Equal(t, 130, code, stderr.String())
	assert.Less(t, took, 10*time.Second)
	assert.Contains(t, stderr.String(), "quitting now")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Empty(t, entries, "no lock file or staging directory is left")
}

// Regression: SIGTERM was not handled and left temporary folders behind.
func TestTerminateStopsCleanly(t *testing.T) {
	out := t.TempDir()
	cfg := writeConfig(t, "[train]\nepochs = 1\n")
	experimentTrain = stubTrain
	defer func() { experimentTrain = train.Run }()
	var so, se bytes.Buffer
	require.Equal(t, 0, run([]string{"run", "-out", out, cfg}, &so, &se), se.String())
	before, err := os.ReadFile(filepath.Join(out, "exp", "layers.csv"))
	require.NoError(t, err)

	cmd, stderr := startHelper(t, "polite", "run", "-out", out, cfg)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	code, _ := exitCode(t, cmd)
	assert.Equal(t, 143, code, stderr.String())
	assert.Contains(t, stderr.String(), "SIGTERM")
	assert.Contains(t, stderr.String(), "left as they were")
	after, err := os.ReadFile(filepath.Join(out, "exp", "layers.csv"))
	require.NoError(t, err)
	assert.Equal(t, before, after)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "exp", entries[0].Name())
}

// Regression: a FIFO named as an input (a config, an .npy file) hung the command in open.
func TestFIFOInputsAreRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "x.toml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	for _, args := range [][]string{
		{"run", "-out", dir, fifo},
		{"train", fifo},
		{"estimate", "-x", fifo, "-y", fifo, "-k", "1"},
	} {
		done := make(chan int, 1)
		var stdout, stderr bytes.Buffer
		go func() { done <- run(args, &stdout, &stderr) }()
		select {
		case code := <-done:
			assert.Equal(t, exitUsage, code, "%q", args)
			assert.Contains(t, stderr.String(), "not a regular file", "%q", args)
		case <-time.After(20 * time.Second):
			t.Fatalf("%q blocked on a FIFO", args)
		}
	}
}

// Regression: SIGQUIT exited with status 2 (Go's default), the status of a usage error, and left
// the lock file behind; SIGHUP was not handled.
func TestQuitAndHangUp(t *testing.T) {
	out := t.TempDir()
	cmd, stderr := startHelper(t, "stubborn", "run", "-out", out, writeConfig(t, "[train]\nepochs = 1\n"))
	require.NoError(t, cmd.Process.Signal(syscall.SIGQUIT))
	code, took := exitCode(t, cmd)
	assert.Equal(t, 131, code, stderr.String())
	assert.Less(t, took, 10*time.Second)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Empty(t, entries, "no lock file or staging directory is left")

	cmd, stderr = startHelper(t, "polite", "run", "-out", out, writeConfig(t, "[train]\nepochs = 1\n"))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	code, _ = exitCode(t, cmd)
	assert.Equal(t, 129, code, stderr.String())
	assert.Contains(t, stderr.String(), "SIGHUP")
}
