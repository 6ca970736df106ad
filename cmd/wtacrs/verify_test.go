package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"verify", "-out", dir, "-cases", "8", "-sketches", "200", "-seed", "5"}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	out := stdout.String()
	assert.Contains(t, out, "Theorem 1: CRS and WTA-CRS unbiased (exact enumeration)")
	assert.Contains(t, out, "also minimises the true variance in")
	js, err := os.ReadFile(filepath.Join(dir, "theory", "findings.json"))
	require.NoError(t, err)
	md, err := os.ReadFile(filepath.Join(dir, "theory", "findings.md"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(md), "# Findings"))
	assert.Contains(t, string(js), `"c_rule"`)

	// Same flags, byte-identical files.
	dir2 := t.TempDir()
	stdout.Reset()
	require.Equal(t, 0, run([]string{"verify", "-out", dir2, "-cases", "8", "-sketches", "200", "-seed", "5"}, &stdout, &stderr))
	js2, err := os.ReadFile(filepath.Join(dir2, "theory", "findings.json"))
	require.NoError(t, err)
	assert.Equal(t, js, js2)
}

func TestVerifyCommandErrors(t *testing.T) {
	t.Parallel()
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, []byte("x"), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"verify", "-nope"}, "flag provided but not defined"},
		{"extra argument", []string{"verify", "x"}, "unexpected arguments"},
		{"negative cases", []string{"verify", "-cases", "-1"}, "-cases -1"},
		{"negative sketches", []string{"verify", "-sketches", "-3"}, "-sketches -3"},
		{"too few sketches", []string{"verify", "-cases", "2", "-sketches", "2"}, "sketches"},
		{"unwritable output", []string{"verify", "-cases", "1", "-sketches", "100", "-out", blocker}, "theory"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		assert.Equal(t, 2, code, tc.name)
		assert.Contains(t, stderr.String(), tc.want, tc.name)
	}
}
