package main

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/matrix"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	var so, se bytes.Buffer
	require.Equal(t, exitOK, run([]string{"version"}, &so, &se), se.String())
	assert.Contains(t, so.String(), "\ngo: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n")
	assert.Contains(t, so.String(), "\ngemm: "+matrix.Backend()+"\n")
	assert.Empty(t, se.String())
	so.Reset()
	assert.Equal(t, exitUsage, run([]string{"version", "extra"}, &so, &se))
	assert.Empty(t, so.String())
}
