package npyfile

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/matrix"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m64, _ := matrix.NewDense(2, 3, []float64{1, -2, 3.5, math.Pi, 0, 1e-300})
	require.NoError(t, Write(filepath.Join(dir, "a.npy"), m64))
	got, err := Read(filepath.Join(dir, "a.npy"))
	require.NoError(t, err)
	assert.Equal(t, m64, got)

	m32, _ := matrix.NewDense(3, 1, []float32{1.5, -2, 7})
	require.NoError(t, Write(filepath.Join(dir, "b.npy"), m32))
	got, err = Read(filepath.Join(dir, "b.npy"))
	require.NoError(t, err)
	assert.Equal(t, matrix.Dense[float64]{Rows: 3, Cols: 1, Data: []float64{1.5, -2, 7}}, got)
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 2, "no temporary file is left behind")
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.npy")
	require.NoError(t, os.WriteFile(garbage, []byte("not numpy"), 0o644))
	ints := filepath.Join(dir, "ints.npy")
	header := "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1), }"
	header += string(make([]byte, 0)) + "          \n"
	data := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), 0)
	data = append(append(data, header...), make([]byte, 16)...)
	require.NoError(t, os.WriteFile(ints, data, 0o644))
	for _, tc := range []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing.npy"), "no such file"},
		{garbage, "garbage.npy"},
		{ints, "<i8"},
	} {
		_, err := Read(tc.path)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
}
