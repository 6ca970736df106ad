package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every command's help is ASCII (it pastes into any shell), has a synopsis and an example, and
// is reached by `wtacrs help COMMAND` and `wtacrs COMMAND -h` alike, with exit status 0.
func TestHelpOfEveryCommand(t *testing.T) {
	require.NotEmpty(t, commands)
	for name := range commands {
		if name == "test-panic" {
			continue
		}
		var a, b, so bytes.Buffer
		require.Equal(t, 0, run([]string{"help", name}, &so, &a), name)
		require.Equal(t, 0, run([]string{name, "-h"}, &so, &b), name)
		text := a.String()
		assert.Equal(t, text, b.String(), name)
		assert.True(t, strings.HasPrefix(text, "usage: wtacrs "+name), "%s: %q", name, text)
		assert.Contains(t, text, "examples:\n  wtacrs "+name, name)
		for i, r := range text {
			if r > unicode.MaxASCII {
				t.Errorf("%s: non-ASCII %q at byte %d of its help", name, r, i)
				break
			}
		}
		assert.NotContains(t, text, " value\n", "%s: every flag names its argument", name)
	}
	var so, se bytes.Buffer
	assert.Equal(t, exitUsage, run([]string{"help", "nope"}, &so, &se))
	assert.Contains(t, se.String(), `unknown command "nope"`)
}

// Flags may follow the positional arguments; "--" ends the flags.
func TestFlagsAfterArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		pos  []string
		out  string
	}{
		{[]string{"a.toml"}, []string{"a.toml"}, "results"},
		{[]string{"-out", "x", "a.toml"}, []string{"a.toml"}, "x"},
		{[]string{"a.toml", "-out", "x"}, []string{"a.toml"}, "x"},
		{[]string{"a.toml", "-out", "x", "b.toml"}, []string{"a.toml", "b.toml"}, "x"},
		{[]string{"--", "-out"}, []string{"-out"}, "results"},
		{[]string{"a.toml", "--", "-out", "x"}, []string{"a.toml", "-out", "x"}, "results"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		out := fs.String("out", "results", "")
		pos, err := parseArgs(fs, tc.args)
		require.NoError(t, err, "%q", tc.args)
		assert.Equal(t, tc.pos, pos, "%q", tc.args)
		assert.Equal(t, tc.out, *out, "%q", tc.args)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	_, err := parseArgs(fs, []string{"a.toml", "-bogus"})
	var u errUsage
	assert.ErrorAs(t, err, &u)
}
