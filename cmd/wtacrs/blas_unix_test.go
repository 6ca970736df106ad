//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A GEMM library that WTACRS_BLAS names and that cannot be loaded is a configuration error,
// reported before the command runs; WTACRS_BLAS=go is the pure Go.
func TestBLASEnvironment(t *testing.T) {
	t.Parallel()
	wtacrs := func(blas string, args ...string) (code int, stdout, stderr string) {
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--"}, args...)...)
		cmd.Env = append(os.Environ(), "WTACRS_HELPER=polite", "WTACRS_BLAS="+blas)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), so.String(), se.String()
		}
		require.NoError(t, err)
		return 0, so.String(), se.String()
	}
	code, stdout, stderr := wtacrs("/nonexistent/libnope.so.0", "version")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, stdout)
	assert.True(t, strings.HasPrefix(stderr, "wtacrs: WTACRS_BLAS=/nonexistent/libnope.so.0: cannot load a CBLAS library: "), stderr)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)

	code, stdout, stderr = wtacrs("go", "version")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "\ngemm: gonum (pure Go)\n")
}
