package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// file returns a safetensors file with header text h (used as it is: no padding is added)
// followed by data.
func file(h string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(b, h...), data...)
}

// withLen returns the 8-byte header length n followed by rest.
func withLen(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

// f32s returns the little-endian bytes of vs.
func f32s(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func open(b []byte) (*File, error) { return NewReader(bytes.NewReader(b), int64(len(b))) }

// encode returns the file Encode writes for ts and meta.
func encode(t testing.TB, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, ts, meta))
	return buf.Bytes()
}

// sameTensors fails unless got holds the tensors of want (in any order) with the same dtypes,
// shapes and element bits.
func sameTensors(t testing.TB, want, got []Tensor) {
	t.Helper()
	require.Len(t, got, len(want))
	byName := map[string]Tensor{}
	for _, g := range got {
		byName[g.Name] = g
	}
	for _, w := range want {
		g, ok := byName[w.Name]
		require.True(t, ok, "tensor %q missing", w.Name)
		require.Equal(t, w.DType, g.DType, "tensor %q", w.Name)
		require.Equal(t, len(w.Shape), len(g.Shape), "tensor %q: shape %v became %v", w.Name, w.Shape, g.Shape)
		for i := range w.Shape {
			require.Equal(t, w.Shape[i], g.Shape[i], "tensor %q: shape %v became %v", w.Name, w.Shape, g.Shape)
		}
		require.Equal(t, w.Len(), g.Len(), "tensor %q", w.Name)
		for i := range w.F32 {
			require.Equal(t, math.Float32bits(w.F32[i]), math.Float32bits(g.F32[i]), "tensor %q element %d", w.Name, i)
		}
		for i := range w.F64 {
			require.Equal(t, math.Float64bits(w.F64[i]), math.Float64bits(g.F64[i]), "tensor %q element %d", w.Name, i)
		}
	}
}

// malformedCase is a file NewReader refuses: the sentinels its error wraps (ErrFormat always)
// and a part of its message.
type malformedCase struct {
	name string
	in   []byte
	is   []error
	want string
}

// malformedCases are the regression cases of malformed and truncated files; they also seed
// FuzzRead.
func malformedCases() []malformedCase {
	trunc := []error{ErrFormat, ErrTruncated}
	format := []error{ErrFormat}
	one := `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	dims65 := "[" + strings.Repeat("1,", 64) + "1]"
	return []malformedCase{
		{"empty file", nil, trunc, "0 bytes, shorter than the 8-byte header length"},
		{"short file", []byte{8, 0, 0, 0, 0}, trunc, "5 bytes"},
		{"header over the limit", withLen(MaxHeaderLen+1, "{}"), []error{ErrFormat, ErrHeaderTooLarge}, "the header length 100000001 is over the limit of 100000000 bytes"},
		{"huge header length", withLen(1<<63, "{}"), []error{ErrFormat, ErrHeaderTooLarge}, "over the limit"},
		{"header beyond the file", withLen(100, `{"a":{}}`), trunc, "truncated header: the header length is 100 bytes but 8 bytes follow it"},
		{"invalid UTF-8", file("{\"a\xff\":1}", nil), format, "not valid UTF-8 (at byte 3)"},
		{"no brace", file(` {}`, nil), format, "does not start with '{'"},
		{"array", file(`[]`, nil), format, "does not start with '{'"},
		{"nul padding", file("{}\x00\x00", nil), format, "invalid JSON in the header"},
		{"second object", file(`{}{}`, nil), format, "'{' after the header object"},
		{"trailing word", file(`{} x`, nil), format, "invalid JSON in the header"},
		{"invalid JSON", file(`{"a":}`, nil), format, "invalid JSON in the header at byte"},
		{"JSON cut short", file(`{"a":{"dtype":"F32"`, nil), format, "ends in tensor \"a\""},
		{"duplicate tensor", file(`{`+one+`,`+one+`}`, f32s(1, 2)), format, `key "a" appears twice in the header`},
		{"duplicate metadata", file(`{"__metadata__":{},"__metadata__":{}}`, nil), format, `key "__metadata__" appears twice`},
		{"duplicate metadata key", file(`{"__metadata__":{"k":"1","k":"2"}}`, nil), format, `__metadata__: key "k" appears twice`},
		{"metadata value not a string", file(`{"__metadata__":{"k":1}}`, nil), format, `__metadata__ key "k": want a string, found the number "1"`},
		{"metadata not an object", file(`{"__metadata__":[]}`, nil), format, "__metadata__: want an object of strings, found '['"},
		{"duplicate dtype", file(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32s(1, 2)), format, `tensor "a": key "dtype" appears twice`},
		{"unknown key", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"strides":[1]}}`, f32s(1, 2)), format, `tensor "a": unknown key "strides"`},
		{"no offsets", file(`{"a":{"dtype":"F32","shape":[2]}}`, f32s(1, 2)), format, `tensor "a": no data_offsets`},
		{"tensor not an object", file(`{"a":3}`, nil), format, `tensor "a": want an object with dtype, shape and data_offsets, found the number "3"`},
		{"dtype not a string", file(`{"a":{"dtype":4,"shape":[],"data_offsets":[0,4]}}`, f32s(1)), format, `tensor "a" dtype: want a string`},
		{"unknown dtype", file(`{"a":{"dtype":"F17","shape":[],"data_offsets":[0,4]}}`, f32s(1)), []error{ErrFormat, ErrDType}, `tensor "a": unknown dtype "F17"`},
		{"lower-case dtype", file(`{"a":{"dtype":"f32","shape":[],"data_offsets":[0,4]}}`, f32s(1)), []error{ErrFormat, ErrDType}, `unknown dtype "f32"`},
		{"shape not an array", file(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, f32s(1, 2)), format, `tensor "a" shape: want '[', found the number "2"`},
		{"negative dimension", file(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, f32s(1, 2)), format, `tensor "a" shape: dimension -2 is negative`},
		{"fractional dimension", file(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, f32s(1, 2)), format, "dimension 1.5 is not an integer"},
		{"dimension as a string", file(`{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, f32s(1, 2)), format, `want a non-negative integer, found the string "2"`},
		{"huge dimension", file(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, f32s(1, 2)), format, "dimension 99999999999999999999 is too large"},
		{"dimension over an int", file(`{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}}`, f32s(1, 2)), format, "dimension 9223372036854775808 is too large"},
		{"element count overflow", file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), format, "overflows the element or byte count"},
		{"byte count overflow", file(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}}`, nil), format, "overflows the element or byte count"},
		{"zero hides an overflow", file(`{"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}`, nil), format, "overflows"},
		{"too many dimensions", file(`{"a":{"dtype":"F32","shape":`+dims65+`,"data_offsets":[0,4]}}`, f32s(1)), format, "shape: more than 64 numbers"},
		{"three offsets", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, f32s(1, 2)), format, "data_offsets: more than 2 numbers"},
		{"one offset", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, f32s(1, 2)), format, "data_offsets holds 1 numbers, want 2"},
		{"offset over int64", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[9223372036854775808,9223372036854775816]}}`, f32s(1, 2)), format, "are too large"},
		{"offsets reversed", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, f32s(1, 2)), format, "end before they begin"},
		{"bytes do not match the shape", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, f32s(1)), format, `tensor "a": data_offsets [0, 4] hold 4 bytes but shape [2] of F32 needs 8`},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32s(1, 2, 3)), format, `tensor "b": data_offsets [4, 12] overlap those of tensor "a" [0, 8]`},
		{"same offsets", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32s(1)), format, "overlap"},
		{"empty tensor inside another", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, f32s(1, 2)), format, `tensor "z": data_offsets [4, 4] overlap`},
		{"gap", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, f32s(1, 2, 3)), format, `tensor "b": its data starts at byte 8 of the data buffer but the previous tensor "a" ends at byte 4`},
		{"not from 0", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32s(1, 2)), format, `tensor "a": its data starts at byte 4 of the data buffer, not 0`},
		{"data beyond the file", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32s(1)), trunc, `truncated: tensor "a": data_offsets [0, 8] reach beyond the 4 bytes of data`},
		{"far beyond the file", file(`{"a":{"dtype":"F64","shape":[1099511627776],"data_offsets":[0,8796093022208]}}`, nil), trunc, "reach beyond the 0 bytes"},
		{"trailing bytes", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32s(1, 2)), format, `4 trailing bytes after the data of the last tensor "a", which ends at byte 4`},
		{"trailing bytes, no tensor", file(`{}`, f32s(1)), format, "4 trailing bytes after a header that declares no tensor"},
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	for _, c := range malformedCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := open(c.in)
			require.Error(t, err)
			for _, s := range c.is {
				assert.ErrorIs(t, err, s)
			}
			for _, s := range []error{ErrFormat, ErrTruncated, ErrHeaderTooLarge, ErrDType} {
				if !slices.Contains(c.is, s) {
					assert.NotErrorIs(t, err, s)
				}
			}
			assert.Contains(t, err.Error(), c.want)
			assert.True(t, strings.HasPrefix(err.Error(), "safetensors: "), err.Error())
		})
	}
}

// TestAccepted checks files that are unusual but well formed.
func TestAccepted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		in    []byte
		names []string // in the order of their data
		meta  map[string]string
	}{
		{"no tensor", file(`{}      `, nil), nil, nil},
		{"null metadata", file(`{"__metadata__":null}`, nil), nil, nil},
		{"empty metadata", file(`{"__metadata__":{}}`, nil), nil, map[string]string{}},
		{"white space and newlines", file("{\n\t\"a\" : {\"shape\": [], \"data_offsets\" : [0, 4], \"dtype\": \"F32\"}\r\n}\n ", f32s(1)), []string{"a"}, nil},
		{"names out of data order", file(`{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32s(1, 2)), []string{"b", "a"}, nil},
		{"empty tensors at one offset", file(`{"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"y":{"dtype":"F64","shape":[3,0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32s(1)), []string{"a", "y", "z"}, nil},
		{"escaped name", file(`{"\u00e9\n":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, f32s(1)), []string{"é\n"}, nil},
		{"other dtypes", file(`{"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"i":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}`, make([]byte, 12)), []string{"h", "i"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, err := open(c.in)
			require.NoError(t, err)
			h := f.Header()
			var names []string
			for _, ti := range h.Tensors {
				names = append(names, ti.Name)
			}
			assert.Equal(t, c.names, names)
			assert.Equal(t, c.meta, h.Metadata)
		})
	}
}

// TestTruncatedEverywhere cuts a file at every byte: each cut is an error wrapping
// ErrTruncated.
func TestTruncatedEverywhere(t *testing.T) {
	t.Parallel()
	b := encode(t, []Tensor{
		NewTensor("w", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		NewTensor("b", []int{3}, []float64{7, 8, 9}),
		NewTensor("s", []int{}, []float32{10}),
	}, map[string]string{"k": "v"})
	for cut := range len(b) {
		_, err := open(b[:cut])
		require.ErrorIs(t, err, ErrTruncated, "cut at %d of %d", cut, len(b))
		require.ErrorIs(t, err, ErrFormat, "cut at %d of %d", cut, len(b))
	}
	_, err := open(b)
	require.NoError(t, err)
}

// TestFileShrinksWhileRead truncates a file after its header has been read.
func TestFileShrinksWhileRead(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "x.safetensors")
	require.NoError(t, Write(p, []Tensor{NewTensor("w", []int{100}, make([]float64, 100))}, nil))
	f, err := Open(p)
	require.NoError(t, err)
	defer f.Close()
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(p, st.Size()-8))
	err = ReadInto(f, "w", make([]float64, 100))
	require.ErrorIs(t, err, ErrTruncated)
	assert.Contains(t, err.Error(), p)
	assert.Contains(t, err.Error(), "the file changed while being read")
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	big32 := make([]float32, 3*chunk/4+5) // crosses the buffer's boundaries
	for i := range big32 {
		big32[i] = float32(i)*0.5 - 7
	}
	big64 := make([]float64, chunk/8*2+3)
	for i := range big64 {
		big64[i] = math.Sqrt(float64(i)) - 3
	}
	specials := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32}
	ts := []Tensor{
		NewTensor("big32", []int{len(big32)}, big32),
		NewTensor("big64", []int{1, len(big64), 1}, big64),
		NewTensor("specials", []int{2, 3}, specials),
		NewTensor("scalar", []int{}, []float64{math.Pi}),
		NewTensor("empty", []int{0, 5}, []float32(nil)),
		NewTensor("empty64", []int{3, 0}, []float64{}),
		NewTensor("unicode ünï ☃", []int{1}, []float64{-1}),
	}
	meta := map[string]string{"z": "last", "a": "first \"quoted\" \\ \n\t\x01 ☃", "": "empty key"}
	p := filepath.Join(t.TempDir(), "r.safetensors")
	require.NoError(t, Write(p, ts, meta))
	got, gotMeta, err := Read(p)
	require.NoError(t, err)
	sameTensors(t, ts, got)
	assert.Equal(t, meta, gotMeta)

	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, encode(t, ts, meta), raw, "Write and Encode write the same bytes")
	h, err := ReadHeader(p)
	require.NoError(t, err)
	for _, ti := range h.Tensors {
		info, ok := func() (TensorInfo, bool) {
			for _, x := range ts {
				if x.Name == ti.Name {
					return TensorInfo{Name: x.Name, DType: x.DType, Shape: x.Shape}, true
				}
			}
			return TensorInfo{}, false
		}()
		require.True(t, ok, ti.Name)
		assert.Equal(t, info.DType, ti.DType)
		assert.Equal(t, len(info.Shape), len(ti.Shape))
		assert.NotNil(t, ti.Shape, "a 0-d tensor has an empty, non-nil shape")
	}
}

// TestLayout checks the order, alignment and padding of what Encode writes, and that it does
// not depend on the order of the tensors given.
func TestLayout(t *testing.T) {
	t.Parallel()
	ts := []Tensor{
		NewTensor("c", []int{1}, []float32{1}),
		NewTensor("b", []int{3}, []float64{1, 2, 3}),
		NewTensor("a", []int{1}, []float32{2}),
		NewTensor("d", []int{2}, []float64{4, 5}),
		NewTensor("B", []int{0}, []float32{}),
	}
	b := encode(t, ts, map[string]string{"y": "1", "x": "2"})
	rev := slices.Clone(ts)
	slices.Reverse(rev)
	assert.Equal(t, b, encode(t, rev, map[string]string{"x": "2", "y": "1"}))

	n := binary.LittleEndian.Uint64(b)
	assert.Zero(t, n%8, "header length %d", n)
	assert.Equal(t, `{"__metadata__":{"x":"2","y":"1"},"b":{"dtype":"F64","shape":[3],"data_offsets":[0,24]},"d":{"dtype":"F64","shape":[2],"data_offsets":[24,40]},"B":{"dtype":"F32","shape":[0],"data_offsets":[40,40]},"a":{"dtype":"F32","shape":[1],"data_offsets":[40,44]},"c":{"dtype":"F32","shape":[1],"data_offsets":[44,48]}}`,
		strings.TrimRight(string(b[8:8+n]), " "))
	f, err := open(b)
	require.NoError(t, err)
	for _, ti := range f.Header().Tensors {
		assert.Zero(t, (8+int64(n)+ti.Begin)%int64(ti.DType.Size()), "tensor %s is aligned", ti.Name)
	}

	empty := encode(t, nil, nil)
	assert.Equal(t, file("{}      ", nil), empty)
	assert.Equal(t, empty, encode(t, nil, map[string]string{}), "empty metadata writes no __metadata__ key")
}

func TestWriteInvalid(t *testing.T) {
	t.Parallel()
	ok := NewTensor("ok", []int{1}, []float32{1})
	cases := []struct {
		name string
		ts   []Tensor
		meta map[string]string
		want string
	}{
		{"name twice", []Tensor{ok, ok}, nil, `tensor "ok": the name is used twice`},
		{"reserved name", []Tensor{NewTensor("__metadata__", []int{}, []float32{1})}, nil, "reserved for the metadata"},
		{"invalid UTF-8 name", []Tensor{NewTensor("a\xff", []int{}, []float32{1})}, nil, "not valid UTF-8"},
		{"too few elements", []Tensor{NewTensor("w", []int{2, 2}, []float32{1, 2, 3})}, nil, `tensor "w": shape [2 2] needs 4 elements but 3 are given`},
		{"too many elements", []Tensor{NewTensor("w", []int{}, []float64{1, 2})}, nil, "shape [] needs 1 elements but 2 are given"},
		{"negative dimension", []Tensor{NewTensor("w", []int{-1, -1}, []float32{1})}, nil, "negative dimension"},
		{"overflow", []Tensor{NewTensor("w", []int{math.MaxInt, 2}, []float32{})}, nil, "overflows"},
		{"too many dimensions", []Tensor{NewTensor("w", make([]int, 65), []float32{})}, nil, "65 dimensions, more than 64"},
		{"unwritable dtype", []Tensor{{Name: "w", DType: BF16, Shape: []int{}}}, nil, "dtype BF16 cannot be written"},
		{"no dtype", []Tensor{{Name: "w", Shape: []int{}}}, nil, "dtype DType(0) cannot be written"},
		{"both slices", []Tensor{{Name: "w", DType: F32, Shape: []int{1}, F32: []float32{1}, F64: []float64{1}}}, nil, "data in both F32 and F64"},
		{"invalid UTF-8 metadata", []Tensor{ok}, map[string]string{"k": "\xff"}, `metadata key "k"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			err := Encode(&buf, c.ts, c.meta)
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), c.want)
			assert.Zero(t, buf.Len(), "nothing is written")
			p := filepath.Join(t.TempDir(), "w.safetensors")
			err = Write(p, c.ts, c.meta)
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), p)
			assert.NoFileExists(t, p)
		})
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "e.safetensors")
	require.NoError(t, os.WriteFile(p, file(`{"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"d":{"dtype":"F64","shape":[1],"data_offsets":[4,12]}}`, make([]byte, 12)), 0o644))
	f, err := Open(p)
	require.NoError(t, err)
	defer f.Close()

	err = ReadInto(f, "nope", []float32{})
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), p+`: no tensor "nope" in the file`)
	_, err = f.Tensor("nope")
	assert.ErrorIs(t, err, ErrNotFound)

	err = ReadInto(f, "d", make([]float32, 1))
	assert.ErrorIs(t, err, ErrDType)
	assert.Contains(t, err.Error(), `tensor "d" is F64, not F32`)

	err = ReadInto(f, "d", make([]float64, 2))
	assert.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), `tensor "d" has 1 elements (shape [1]) but the destination has 2`)

	err = ReadInto(f, "h", make([]float32, 2))
	assert.ErrorIs(t, err, ErrDType)
	assert.Contains(t, err.Error(), `tensor "h" is BF16: only the data of F32 and F64 tensors is read`)
	_, err = f.Tensor("h")
	assert.ErrorIs(t, err, ErrDType)
	_, _, err = Read(p)
	assert.ErrorIs(t, err, ErrDType)

	h, err := ReadHeader(p)
	require.NoError(t, err, "the header of a file of other dtypes is read")
	assert.Equal(t, BF16, h.Tensors[0].DType)
	assert.Equal(t, 2, h.Tensors[0].Elements())

	_, err = Open(dir)
	assert.ErrorIs(t, err, inputfile.ErrNotRegular)
	_, err = Open(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	bad := filepath.Join(dir, "bad.safetensors")
	require.NoError(t, os.WriteFile(bad, file(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32s(1, 2)), 0o644))
	_, err = ReadHeader(bad)
	assert.ErrorIs(t, err, ErrFormat)
	assert.Contains(t, err.Error(), "safetensors: "+bad+`: tensor "w": data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12`)
}

// TestLookupCopies checks that what a File returns cannot change it.
func TestLookupCopies(t *testing.T) {
	t.Parallel()
	f, err := open(encode(t, []Tensor{NewTensor("w", []int{2}, []float32{1, 2})}, map[string]string{"k": "v"}))
	require.NoError(t, err)
	info, ok := f.Lookup("w")
	require.True(t, ok)
	info.Shape[0] = 99
	f.Header().Tensors[0].Shape[0] = 99
	f.Metadata()["k"] = "changed"
	f.Header().Metadata["k"] = "changed"
	again, _ := f.Lookup("w")
	assert.Equal(t, []int{2}, again.Shape)
	assert.Equal(t, map[string]string{"k": "v"}, f.Metadata())
	_, ok = f.Lookup("x")
	assert.False(t, ok)
}

func TestDType(t *testing.T) {
	t.Parallel()
	for d := Bool; d <= U64; d++ {
		got, err := ParseDType(d.String())
		require.NoError(t, err)
		assert.Equal(t, d, got)
		assert.Contains(t, []int{1, 2, 4, 8}, d.Size(), d.String())
	}
	assert.Equal(t, "F8_E4M3", F8E4M3.String())
	assert.Equal(t, 4, F32.Size())
	assert.Equal(t, 8, F64.Size())
	assert.Equal(t, 0, DType(0).Size())
	assert.Equal(t, "DType(200)", DType(200).String())
	_, err := ParseDType("F4")
	assert.ErrorIs(t, err, ErrDType)
	assert.True(t, errors.Is(err, ErrFormat))
}

// BenchmarkWriteRead writes and reads 64 MiB of float32 data.
func BenchmarkWriteRead(b *testing.B) {
	data := make([]float32, 16<<20)
	for i := range data {
		data[i] = float32(i)
	}
	p := filepath.Join(b.TempDir(), "b.safetensors")
	ts := []Tensor{NewTensor("m", []int{len(data)}, data)}
	b.SetBytes(int64(4 * len(data)))
	b.ResetTimer()
	for range b.N {
		if err := Write(p, ts, nil); err != nil {
			b.Fatal(err)
		}
		f, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := ReadInto(f, "m", data); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
