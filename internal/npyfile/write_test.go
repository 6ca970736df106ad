package npyfile

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/matrix"
)

// writeRead writes data as a shape[0]×shape[1] matrix to path with Write and reads it back with
// Read, requiring the shape and the length to survive; it returns the values read.
func writeRead[T matrix.Float](t *testing.T, path string, shape [2]int, data []T) []float64 {
	t.Helper()
	m, err := matrix.NewDense(shape[0], shape[1], data)
	require.NoError(t, err)
	require.NoError(t, Write(path, m))
	got, err := Read(path)
	require.NoError(t, err)
	assert.Equal(t, shape, [2]int{got.Rows, got.Cols})
	require.Len(t, got.Data, len(data))
	return got.Data
}

// TestWriteBitForBit checks that Read returns every value Write stores, bit for bit, in 2-D
// and n×1 matrices of both element types.
func TestWriteBitForBit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f64 := []float64{
		0, math.Copysign(0, -1), 1, -1.5, math.Pi, math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, 2.2250738585072014e-308, math.Inf(1), math.Inf(-1),
		math.Float64frombits(0x7ff8000000000123), // quiet NaN with a payload
		math.Float64frombits(0x7ff0000000000001), // signalling NaN
	}
	f32 := []float32{
		0, float32(math.Copysign(0, -1)), 1, -1.5, math.Pi, math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x7fc00123), // quiet NaN with a payload
	}
	for _, shape := range [][2]int{{1, len(f64)}, {len(f64), 1}} {
		equalBits(t, f64, writeRead(t, filepath.Join(dir, "f64.npy"), shape, f64), "float64")
	}
	for _, shape := range [][2]int{{1, len(f32)}, {len(f32), 1}} {
		got := writeRead(t, filepath.Join(dir, "f32.npy"), shape, f32)
		for i, v := range f32 {
			assert.Equal(t, math.Float32bits(v), math.Float32bits(float32(got[i])), "float32 element %d", i)
		}
	}
	// A signalling float32 NaN comes back as a NaN (quieted by the conversion to float64).
	p := filepath.Join(dir, "snan.npy")
	require.NoError(t, Write(p, matrix.Dense[float32]{Rows: 1, Cols: 1, Data: []float32{math.Float32frombits(0x7f800001)}}))
	got, err := Read(p)
	require.NoError(t, err)
	assert.True(t, math.IsNaN(got.Data[0]))
}

// TestWriteFormatUnchanged is the regression test of the bytes Write produces: the committed
// example of wtacrs estimate, read and written again, is reproduced byte for byte.
func TestWriteFormatUnchanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "m.npy")
	require.NoError(t, Write(p, matrix.Dense[float64]{Rows: 2, Cols: 3, Data: make([]float64, 6)}))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	h := "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"
	h += strings.Repeat(" ", 128-10-len(h)-1) + "\n"
	assert.Equal(t, append([]byte("\x93NUMPY\x01\x00\x76\x00"+h), make([]byte, 48)...), b)

	for _, name := range []string{"X.npy", "Y.npy"} {
		src := filepath.Join("..", "..", "testdata", "example", name)
		want, err := os.ReadFile(src)
		require.NoError(t, err)
		m, err := Read(src)
		require.NoError(t, err)
		m32 := matrix.Dense[float32]{Rows: m.Rows, Cols: m.Cols, Data: make([]float32, len(m.Data))}
		for i, v := range m.Data {
			m32.Data[i] = float32(v)
		}
		out := filepath.Join(dir, name)
		require.NoError(t, Write(out, m32))
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "%s is not reproduced", name)
	}
}

func TestWriteArrayRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ext := map[byte][]float64{
		'f': {0, -1.5, 1e300, math.Inf(-1), math.NaN()},
		'b': {0, 1, 1, 0, 1},
	}
	for _, dt := range []string{"<f8", ">f8", "<f4", ">f4", "|b1", "|i1", "|u1", "<i2", ">i2", "<u2", ">u2", "<i4", ">i4", "<u4", ">u4", "<i8", ">i8", "<u8", ">u8"} {
		typ, err := parseDescr(dt)
		require.NoError(t, err)
		vals := ext[typ.kind]
		if typ.kind == 'f' && typ.size == 4 {
			// A float32 NaN: float64 NaN payloads beyond float32's are not kept.
			vals = []float64{0, -1.5, math.MaxFloat32, math.Inf(-1), float64(math.Float32frombits(0x7fc00001))}
		}
		if typ.kind == 'i' || typ.kind == 'u' {
			// The extremes float64 holds exactly: -2^(b-1) and the largest value below 2^(b-1)
			// (or 2^b unsigned).
			bits := 8 * typ.size
			lim, lo := math.Ldexp(1, bits-1), -math.Ldexp(1, bits-1)
			if typ.kind == 'u' {
				lim, lo = math.Ldexp(1, bits), 0
			}
			hi := lim - 1
			if hi == lim { // 8-byte types: 2^b - 1 rounds to 2^b
				hi = math.Nextafter(lim, 0)
			}
			vals = []float64{lo, hi, 0, 1, 7}
		}
		for _, shape := range [][]int{{}, {5}, {1, 5}, {5, 1, 1}, {0, 4}} {
			n, _ := elements(shape)
			a := Array{Shape: shape, Data: vals[:n], DType: dt}
			p := filepath.Join(dir, "a.npy")
			require.NoError(t, WriteArray(p, a), dt)
			got, err := ReadArray(p)
			require.NoError(t, err, dt)
			assert.Equal(t, shape, got.Shape, dt)
			assert.Equal(t, dt, got.DType)
			equalBits(t, a.Data, got.Data, dt)

			file, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.Zero(t, (len(file)-len(a.Data)*typ.size)%64, "%s: the data starts at a multiple of 64", dt)
			var again bytes.Buffer
			require.NoError(t, Encode(&again, got))
			assert.True(t, bytes.Equal(file, again.Bytes()), "%s: decode then encode gives the same bytes", dt)
		}
	}
	// Other spellings of a dtype are written in the canonical form.
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, Array{Shape: []int{1}, Data: []float64{1}, DType: "float32"}))
	a, err := decodeBytes(buf.Bytes())
	require.NoError(t, err)
	assert.Equal(t, "<f4", a.DType)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a    Array
		want string
	}{
		{"unsupported dtype", Array{Shape: []int{1}, Data: []float64{1}, DType: "<c8"}, "complex numbers"},
		{"empty dtype", Array{Shape: []int{1}, Data: []float64{1}}, "dtype \"\" is not supported"},
		{"negative dimension", Array{Shape: []int{-1}, Data: nil, DType: "<f8"}, "negative dimension in shape [-1]"},
		{"length", Array{Shape: []int{2, 2}, Data: []float64{1, 2, 3}, DType: "<f8"}, "3 elements for shape [2 2]"},
		{"0-d without element", Array{Shape: nil, Data: nil, DType: "<f8"}, "0 elements for shape []"},
		{"overflow", Array{Shape: []int{1 << 40, 1 << 40}, DType: "<f8"}, "shape [1099511627776 1099511627776] overflows the element count"},
		{"too many dimensions", Array{Shape: make([]int, MaxDims+1), DType: "<f8"}, "65 dimensions, more than 64"},
		{"fraction as int", Array{Shape: []int{2}, Data: []float64{1, 0.5}, DType: "<i4"}, "element 1 (0.5) cannot be stored exactly as <i4"},
		{"NaN as int", Array{Shape: []int{1}, Data: []float64{math.NaN()}, DType: "|i1"}, "element 0 (NaN) cannot be stored exactly as |i1"},
		{"Inf as int", Array{Shape: []int{1}, Data: []float64{math.Inf(1)}, DType: "<i8"}, "(+Inf) cannot be stored"},
		{"out of range", Array{Shape: []int{1}, Data: []float64{256}, DType: "|u1"}, "(256) cannot be stored exactly as |u1"},
		{"int8 below range", Array{Shape: []int{1}, Data: []float64{-129}, DType: "|i1"}, "(-129)"},
		{"negative unsigned", Array{Shape: []int{1}, Data: []float64{-1}, DType: ">u2"}, "(-1) cannot be stored exactly as >u2"},
		{"int64 2^63", Array{Shape: []int{1}, Data: []float64{1 << 63}, DType: "<i8"}, "cannot be stored"},
		{"bool 2", Array{Shape: []int{1}, Data: []float64{2}, DType: "|b1"}, "(2) cannot be stored exactly as |b1"},
		{"float32 precision", Array{Shape: []int{1}, Data: []float64{0.1}, DType: "<f4"}, "(0.1) cannot be stored exactly as <f4"},
		{"float32 range", Array{Shape: []int{1}, Data: []float64{1e39}, DType: ">f4"}, "(1e+39)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			err := Encode(&buf, tc.a)
			require.ErrorIs(t, err, ErrFormat)
			assert.ErrorContains(t, err, tc.want)
			assert.Zero(t, buf.Len(), "nothing is written")
			p := filepath.Join(t.TempDir(), "a.npy")
			err = WriteArray(p, tc.a)
			require.ErrorIs(t, err, ErrFormat)
			assert.ErrorContains(t, err, p+": ")
			assert.NoFileExists(t, p)
		})
	}
	err := Encode(failWriter{}, Array{Shape: []int{1}, Data: []float64{1}, DType: "<f8"})
	assert.ErrorContains(t, err, "disk full")
	assert.NotErrorIs(t, err, ErrFormat)
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, m := range []matrix.Dense[float64]{
		{Rows: 2, Cols: 2, Data: make([]float64, 3)},
		{Rows: -1, Cols: -1, Data: make([]float64, 1)},
		{Rows: 1 << 40, Cols: 1 << 40},
	} {
		p := filepath.Join(dir, "m.npy")
		err := Write(p, m)
		require.ErrorIs(t, err, ErrFormat)
		assert.ErrorContains(t, err, "elements for a")
		assert.NoFileExists(t, p)
	}
	err := Write(filepath.Join(dir, "no", "such", "dir.npy"), matrix.Dense[float32]{Rows: 1, Cols: 1, Data: []float32{1}})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrFormat)
}
