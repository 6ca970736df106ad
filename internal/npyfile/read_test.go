package npyfile

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// npy returns a .npy file of the given version (1, 2 or 3) with header text h (used as it is:
// no padding or newline is added) followed by data.
func npy(version int, h string, data []byte) []byte {
	b := []byte(magic)
	if version == 1 {
		b = append(b, 1, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = append(b, byte(version), 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	return append(append(b, h...), data...)
}

// hdr returns a header dict with the given descr and shape, the keys in numpy's order.
func hdr(descr, shape string) string {
	return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }\n"
}

// f64s returns the little-endian bytes of vs.
func f64s(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func decodeBytes(b []byte) (Array, error) { return Decode(bytes.NewReader(b), int64(len(b))) }

// equalBits reports whether a and b hold the same float64 bit patterns.
func equalBits(t *testing.T, want, got []float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for i := range want {
		assert.Equal(t, math.Float64bits(want[i]), math.Float64bits(got[i]), "%s: element %d: want %v, got %v", msg, i, want[i], got[i])
	}
}

// malformedCase is a file Decode refuses, with a part of the error it gives.
type malformedCase struct {
	name string
	in   []byte
	want string
}

// malformedCases are the regression cases of malformed, truncated and unsupported files; they
// also seed FuzzRead.
func malformedCases() []malformedCase {
	eight := f64s(1)
	withLen := func(version int, hlen uint32, rest string) []byte {
		b := []byte(magic)
		if version == 1 {
			b = binary.LittleEndian.AppendUint16(append(b, 1, 0), uint16(hlen))
		} else {
			b = binary.LittleEndian.AppendUint32(append(b, byte(version), 0), hlen)
		}
		return append(b, rest...)
	}
	many := "(" + strings.Repeat("1, ", MaxDims+1) + ")"
	return []malformedCase{
		{"empty file", nil, "truncated: 0 bytes"},
		{"not npy", []byte("not numpy at all"), "not a .npy file"},
		{"bad magic prefix", []byte("\x93NUMPZ\x01\x00\x00\x00"), "not a .npy file"},
		{"truncated magic", []byte("\x93NUM"), "truncated: 4 bytes"},
		{"truncated preamble", []byte("\x93NUMPY\x01\x00\x10"), "truncated: 9 bytes"},
		{"truncated v2 preamble", []byte("\x93NUMPY\x02\x00\x10\x00\x00"), "shorter than the 12-byte preamble"},
		{"version 4.0", npy(4, hdr("<f8", "(1,)"), eight), "unsupported format version 4.0 (want 1.0, 2.0 or 3.0)"},
		{"version 1.1", []byte("\x93NUMPY\x01\x01\x00\x00"), "unsupported format version 1.1"},
		{"truncated header", withLen(1, 100, "{'descr'"), "truncated header: the header length is 100 bytes but 8 bytes follow"},
		{"4 GiB header length", withLen(2, math.MaxUint32, "{}"), "truncated header: the header length is 4294967295 bytes but 2 bytes follow"},
		{"header over the limit", withLen(2, MaxHeaderLen+1, strings.Repeat(" ", MaxHeaderLen+1)), "over the limit of 65536 bytes"},
		{"empty header", npy(1, "", nil), "want '{' opening the header dict, found the end of the header"},
		{"no opening brace", npy(1, "'descr': '<f8'}", nil), "want '{'"},
		{"no closing brace", npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)", eight), "want ',' or '}' after the value of \"shape\", found the end of the header"},
		{"no closing brace, newline", npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,),\n", eight), "found the end of the header"},
		{"garbage after the dict", npy(1, hdr("<f8", "(1,)")+"x", eight), "unexpected 'x' after the closing '}'"},
		{"unquoted key", npy(1, "{descr: '<f8'}", nil), "key: at byte 1: want a quoted string, found 'd'"},
		{"no colon", npy(1, "{'descr' '<f8'}", nil), "want ':' after key \"descr\""},
		{"unknown key", npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}", eight), "unknown key \"extra\""},
		{"duplicate key", npy(1, "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", eight), "key \"descr\" appears twice"},
		{"missing shape", npy(1, "{'descr': '<f8', 'fortran_order': False}", eight), "no \"shape\" key"},
		{"missing descr", npy(1, "{'fortran_order': False, 'shape': (1,)}", eight), "no \"descr\" key"},
		{"missing fortran_order", npy(1, "{'descr': '<f8', 'shape': (1,)}", eight), "no \"fortran_order\" key"},
		{"empty dict", npy(1, "{}", nil), "no \"descr\" key"},
		{"double comma", npy(1, "{'descr': '<f8',, }", nil), "key: at byte 16: want a quoted string, found ','"},
		{"empty shape value", npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': , }", nil), "'shape': at byte 50: want a tuple such as (3, 4), found ','"},
		{"unparenthesised shape", npy(1, hdr("<f8", "3"), eight), "want a tuple such as (3, 4), found \"3\""},
		{"parenthesised number", npy(1, hdr("<f8", "(3)"), eight), "(3) is a number, not a tuple: a 1-d shape is written (3,)"},
		{"list shape", npy(1, hdr("<f8", "[3]"), eight), "want a tuple such as (3, 4), found '['"},
		{"unclosed shape", npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4", nil), "want ',' or ')' in the shape, found the end of the header"},
		{"missing dimension", npy(1, hdr("<f8", "(1,,)"), eight), "want a dimension, found ','"},
		{"space-separated dimensions", npy(1, hdr("<f8", "(1 2)"), eight), "want ',' or ')' in the shape, found '2'"},
		{"negative dimension", npy(1, hdr("<f8", "(-1, 2)"), eight), "negative dimension -1"},
		{"fractional dimension", npy(1, hdr("<f8", "(2.5,)"), eight), "dimension \"2.5\" is not a non-negative integer"},
		{"named dimension", npy(1, hdr("<f8", "(None,)"), eight), "dimension \"None\" is not a non-negative integer"},
		{"bool dimension", npy(1, hdr("<f8", "(True,)"), eight), "dimension \"True\" is not a non-negative integer"},
		{"underscore dimension", npy(1, hdr("<f8", "(1_000,)"), eight), "dimension \"1_000\" is not a non-negative integer"},
		{"huge dimension", npy(1, hdr("<f8", "(99999999999999999999,)"), eight), "dimension 99999999999999999999 is too large"},
		{"overflowing element count", npy(1, hdr("<f8", "(4294967296, 4294967296)"), eight), "shape [4294967296 4294967296] of 8-byte elements overflows"},
		{"overflow hidden by a zero", npy(1, hdr("<f8", "(0, 4294967296, 4294967296)"), nil), "overflows"},
		{"overflowing byte count", npy(1, hdr("<f8", "(2305843009213693952,)"), eight), "overflows the element or byte count"},
		{"too many dimensions", npy(1, hdr("<f8", many), eight), "more than 64 dimensions"},
		{"fortran order", npy(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (1,)}", eight), "Fortran order; save it with numpy.ascontiguousarray"},
		{"fortran_order not a bool", npy(1, "{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}", eight), "want True or False, found \"0\""},
		{"fortran_order prefix", npy(1, "{'descr': '<f8', 'fortran_order': Falsey, 'shape': (1,)}", eight), "found \"Falsey\""},
		{"fortran_order missing", npy(1, "{'descr': '<f8', 'fortran_order': , 'shape': (1,)}", eight), "want True or False, found ','"},
		{"empty descr", npy(1, hdr("", "(1,)"), eight), "dtype \"\" is not supported (not a numpy type code)"},
		{"unquoted descr", npy(1, "{'descr': <f8, 'fortran_order': False, 'shape': (1,)}", eight), "'descr': at byte 10: want a quoted string, found '<'"},
		{"unclosed descr", npy(1, "{'descr': '<f8, 'fortran_order': False, 'shape': (1,)}", eight), "dtype \"<f8, \" is not supported"},
		{"descr open at the end", npy(1, "{'descr': '<f8", nil), "string opened here is not closed"},
		{"descr across lines", npy(1, "{'descr': '<f8\n', 'fortran_order': False, 'shape': (1,)}", eight), "is not closed on its line"},
		{"mixed quotes", npy(1, "{'descr': '<f8\", 'fortran_order': False, 'shape': (1,)}", eight), "is not supported"},
		{"escape in descr", npy(1, "{'descr': '<f\\x38', 'fortran_order': False, 'shape': (1,)}", eight), "escape sequences in strings are not supported"},
		{"number as descr", npy(1, "{'descr': 8, 'fortran_order': False, 'shape': (1,)}", eight), "want a quoted string, found '8'"},
		{"structured descr", npy(1, "{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (1,)}", eight), "structured dtypes"},
		{"complex", npy(1, hdr("<c16", "(1,)"), make([]byte, 16)), "dtype \"<c16\" is not supported (complex numbers)"},
		{"float16", npy(1, hdr("<f2", "(1,)"), make([]byte, 2)), "dtype \"<f2\" is not supported (float16"},
		{"longdouble", npy(1, hdr("<f16", "(1,)"), make([]byte, 16)), "16-byte floats"},
		{"bytes", npy(1, hdr("|S3", "(1,)"), make([]byte, 3)), "(strings)"},
		{"unicode", npy(1, hdr("<U3", "(1,)"), make([]byte, 12)), "(strings)"},
		{"objects", npy(1, hdr("|O", "(1,)"), eight), "\"|O\" is not supported (not a numpy type code)"},
		{"objects with size", npy(1, hdr("|O8", "(1,)"), eight), "(Python objects)"},
		{"datetime", npy(1, hdr("<M8[ns]", "(1,)"), eight), "is not supported"},
		{"void", npy(1, hdr("|V8", "(1,)"), eight), "(raw or structured data)"},
		{"3-byte integer", npy(1, hdr("<i3", "(1,)"), make([]byte, 3)), "3-byte integers"},
		{"2-byte bool", npy(1, hdr("<b2", "(1,)"), make([]byte, 2)), "bools are 1 byte"},
		{"| order for 8 bytes", npy(1, hdr("|f8", "(1,)"), eight), "byte order '|' for a 8-byte type"},
		{"unknown name", npy(1, hdr("float128", "(1,)"), make([]byte, 16)), "\"float128\" is not supported"},
		{"sign in type size", npy(1, hdr("<f+8", "(1,)"), eight), "not a numpy type code"},
		{"version 3 not UTF-8", npy(3, "{'descr': '<f8\xff', 'fortran_order': False, 'shape': (1,)}\n", eight), "not valid UTF-8"},
		{"truncated data", npy(1, hdr("<f8", "(2,)"), eight), "truncated data: shape [2] of <f8 needs 16 bytes but the file holds 8 after the header"},
		{"no data", npy(1, hdr("<f4", "(3, 2)"), nil), "truncated data: shape [3 2] of <f4 needs 24 bytes but the file holds 0"},
		{"1e10 elements", npy(1, hdr("<f8", "(100000, 100000)"), eight), "needs 80000000000 bytes but the file holds 8"},
		{"trailing bytes", npy(1, hdr("<f8", "(1,)"), append(f64s(1), 1, 2, 3)), "3 trailing bytes after the 8 bytes of data that shape [1] of <f8 needs"},
		{"trailing bytes of an empty array", npy(1, hdr("<f8", "(0,)"), eight), "8 trailing bytes after the 0 bytes"},
		{"int64 not exact", npy(1, hdr("<i8", "(2,)"), binary.LittleEndian.AppendUint64(make([]byte, 8), 1<<53+1)), "element 1 (9007199254740993) is not exactly representable as float64"},
		{"int64 max", npy(1, hdr("<i8", "(1,)"), binary.LittleEndian.AppendUint64(nil, math.MaxInt64)), "element 0 (9223372036854775807) is not exactly representable"},
		{"uint64 max", npy(1, hdr(">u8", "(1,)"), binary.BigEndian.AppendUint64(nil, math.MaxUint64)), "element 0 (18446744073709551615) is not exactly"},
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	for _, tc := range malformedCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeBytes(tc.in)
			require.ErrorIs(t, err, ErrFormat)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// validCase is a file Decode accepts, with what it returns.
type validCase struct {
	name  string
	in    []byte
	shape []int
	data  []float64
	dtype string
}

// validCases are the header variants and dtypes Decode accepts; they also seed FuzzRead.
func validCases() []validCase {
	two := f64s(1.5, -2)
	return []validCase{
		{"numpy's layout", npy(1, hdr("<f8", "(2,)"), two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"keys in any order", npy(1, "{'shape': (2,), 'descr': '<f8', 'fortran_order': False}", two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"fortran_order first", npy(1, "{'fortran_order': False, 'shape': (1, 2), 'descr': '<f8', }", two), []int{1, 2}, []float64{1.5, -2}, "<f8"},
		{"double quotes", npy(1, `{"descr": "<f8", "fortran_order": False, "shape": (2,)}`, two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"mixed quote styles", npy(1, `{'descr': "<f8", "fortran_order": False, 'shape': (2,)}`, two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"no newline, no padding", npy(1, "{'descr':'<f8','fortran_order':False,'shape':(2,)}", two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"white space everywhere", npy(1, " \t{\n 'descr' :\t'<f8' ,\r\n'fortran_order'\f: False , 'shape' : ( 2 , ) , } \n\n", two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"shape without trailing comma", npy(1, hdr("<f8", "(1, 2)"), two), []int{1, 2}, []float64{1.5, -2}, "<f8"},
		{"shape with trailing comma", npy(1, hdr("<f8", "(1, 2,)"), two), []int{1, 2}, []float64{1.5, -2}, "<f8"},
		{"explicit plus and minus zero", npy(1, hdr("<f8", "(+2, 1, -0)"), nil), []int{2, 1, 0}, []float64{}, "<f8"},
		{"version 2.0", npy(2, hdr("<f8", "(2,)"), two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"version 3.0", npy(3, hdr("<f8", "(2,)"), two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"0-d", npy(1, hdr("<f8", "()"), f64s(7)), []int{}, []float64{7}, "<f8"},
		{"0-d with space", npy(1, hdr("<f8", "( )"), f64s(7)), []int{}, []float64{7}, "<f8"},
		{"empty", npy(1, hdr("<f4", "(0, 3)"), nil), []int{0, 3}, []float64{}, "<f4"},
		{"float64 name", npy(1, hdr("float64", "(2,)"), two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"code without order", npy(1, hdr("f8", "(2,)"), two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"native order", npy(1, hdr("=f8", "(2,)"), two), []int{2}, []float64{1.5, -2}, "<f8"},
		{"big-endian float64", npy(1, hdr(">f8", "(2,)"), binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, math.Float64bits(1.5)), math.Float64bits(-2))), []int{2}, []float64{1.5, -2}, ">f8"},
		{"little-endian float32", npy(1, hdr("<f4", "(2,)"), binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-2))), []int{2}, []float64{1.5, -2}, "<f4"},
		{"big-endian float32", npy(1, hdr(">f4", "(2,)"), binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-2))), []int{2}, []float64{1.5, -2}, ">f4"},
		{"bool", npy(1, hdr("|b1", "(4,)"), []byte{0, 1, 2, 255}), []int{4}, []float64{0, 1, 1, 1}, "|b1"},
		{"bool '?'", npy(1, hdr("?", "(2,)"), []byte{1, 0}), []int{2}, []float64{1, 0}, "|b1"},
		{"bool little-endian", npy(1, hdr("<b1", "(1,)"), []byte{1}), []int{1}, []float64{1}, "|b1"},
		{"int8", npy(1, hdr("|i1", "(3,)"), []byte{0x80, 0xff, 0x7f}), []int{3}, []float64{-128, -1, 127}, "|i1"},
		{"uint8", npy(1, hdr("|u1", "(2,)"), []byte{0xff, 3}), []int{2}, []float64{255, 3}, "|u1"},
		{"int16 big-endian", npy(1, hdr(">i2", "(2,)"), []byte{0x80, 0x00, 0x00, 0x05}), []int{2}, []float64{-32768, 5}, ">i2"},
		{"uint16", npy(1, hdr("<u2", "(1,)"), []byte{0xff, 0xff}), []int{1}, []float64{65535}, "<u2"},
		{"int32", npy(1, hdr("<i4", "(1,)"), binary.LittleEndian.AppendUint32(nil, 1<<31)), []int{1}, []float64{-1 << 31}, "<i4"},
		{"uint32 big-endian", npy(1, hdr(">u4", "(1,)"), binary.BigEndian.AppendUint32(nil, math.MaxUint32)), []int{1}, []float64{math.MaxUint32}, ">u4"},
		{"int64", npy(1, hdr("<i8", "(3,)"), binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 1<<53), 1<<63), 1<<62)), []int{3}, []float64{1 << 53, -1 << 63, 1 << 62}, "<i8"},
		{"uint64 big-endian", npy(1, hdr(">u8", "(1,)"), binary.BigEndian.AppendUint64(nil, 1<<63)), []int{1}, []float64{1 << 63}, ">u8"},
		{"int32 name", npy(1, hdr("int32", "(1,)"), binary.LittleEndian.AppendUint32(nil, 7)), []int{1}, []float64{7}, "<i4"},
	}
}

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	for _, tc := range validCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := decodeBytes(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.shape, a.Shape)
			assert.Equal(t, tc.dtype, a.DType)
			equalBits(t, tc.data, a.Data, tc.name)
		})
	}
}

// TestDecodeChunks reads an array larger than the read buffer, of an element size that does
// not divide the buffer evenly into the file (3-byte offsets are impossible, so 2 and 8).
func TestDecodeChunks(t *testing.T) {
	t.Parallel()
	for _, dt := range []string{"<u2", ">f8"} {
		n := 3*(1<<16)/2 + 5
		a := Array{Shape: []int{n}, Data: make([]float64, n), DType: dt}
		for i := range a.Data {
			a.Data[i] = float64(i % 60000)
		}
		var buf bytes.Buffer
		require.NoError(t, Encode(&buf, a))
		got, err := decodeBytes(buf.Bytes())
		require.NoError(t, err)
		equalBits(t, a.Data, got.Data, dt)
	}
}

// TestDecodeRefusesBeforeAllocating is the regression test of headers that declare far more
// than the file holds (1e10 elements, a 4 GiB header): they are refused without allocating
// what they declare. It is not parallel, so that the heap growth it measures is its own.
func TestDecodeRefusesBeforeAllocating(t *testing.T) {
	huge := npy(1, hdr("<f8", "(100000, 100000)"), f64s(1, 2))
	hugeHeader := binary.LittleEndian.AppendUint32([]byte("\x93NUMPY\x02\x00"), math.MaxUint32)
	hugeHeader = append(hugeHeader, "{'descr': '<f8'}"...)
	for name, in := range map[string][]byte{"1e10 elements": huge, "4 GiB header": hugeHeader} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		allocs := testing.AllocsPerRun(20, func() {
			_, err := decodeBytes(in)
			require.ErrorIs(t, err, ErrFormat)
		})
		runtime.ReadMemStats(&after)
		assert.LessOrEqual(t, allocs, 40.0, name)
		// 21 runs (AllocsPerRun warms up once), each far under the 80 GB or 4 GiB declared.
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), name)
	}
}

func TestReadArrayFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.npy")
	require.NoError(t, os.WriteFile(bad, npy(1, hdr("<f8", "(3,)"), f64s(1)), 0o644))
	_, err := ReadArray(bad)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, bad+": truncated data")

	_, err = ReadArray(filepath.Join(dir, "missing.npy"))
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorContains(t, err, "missing.npy")

	_, err = ReadArray(dir)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, dir+": not a regular file")

	_, err = Read(dir)
	require.ErrorIs(t, err, ErrFormat)

	good := filepath.Join(dir, "good.npy")
	require.NoError(t, os.WriteFile(good, npy(2, hdr(">f4", "(1, 1, 2)"), binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, math.Float32bits(0.5)), math.Float32bits(3))), 0o644))
	a, err := ReadArray(good)
	require.NoError(t, err)
	assert.Equal(t, Array{Shape: []int{1, 1, 2}, Data: []float64{0.5, 3}, DType: ">f4"}, a)
}

func TestReadMatrix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	vec := write("vec.npy", npy(1, hdr("<f8", "(2,)"), f64s(1, 2)))
	m, err := Read(vec)
	require.NoError(t, err)
	assert.Equal(t, 2, m.Rows)
	assert.Equal(t, 1, m.Cols)
	assert.Equal(t, []float64{1, 2}, m.Data)

	be := write("be.npy", npy(1, hdr(">f8", "(1, 2)"), binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, math.Float64bits(4)), math.Float64bits(-1))))
	m, err = Read(be)
	require.NoError(t, err)
	assert.Equal(t, []float64{4, -1}, m.Data)

	empty := write("empty.npy", npy(1, hdr("<f4", "(0, 3)"), nil))
	m, err = Read(empty)
	require.NoError(t, err)
	assert.Equal(t, 0, m.Rows)
	assert.Equal(t, 3, m.Cols)

	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"cube.npy", npy(1, hdr("<f8", "(1, 1, 1)"), f64s(1)), "cube.npy: has 3 dimensions, want 2"},
		{"scalar.npy", npy(1, hdr("<f8", "()"), f64s(1)), "scalar.npy: has 0 dimensions, want 2"},
		{"bools.npy", npy(1, hdr("|b1", "(1,)"), []byte{1}), "bools.npy: holds |b1, want float32 (<f4) or float64 (<f8)"},
		{"ints.npy", npy(1, hdr(">i4", "(1,)"), make([]byte, 4)), "ints.npy: holds >i4"},
		{"short.npy", npy(1, hdr("<f8", "(2, 2)"), f64s(1)), "short.npy: truncated data"},
		{"long.npy", npy(1, hdr("<f8", "(1, 1)"), f64s(1, 2)), "long.npy: 8 trailing bytes"},
		{"fortran.npy", npy(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 1)}", f64s(1)), "fortran.npy: the array is in Fortran order"},
		{"complex.npy", npy(1, hdr("<c8", "(1, 1)"), f64s(1)), "complex.npy: header"},
	} {
		_, err := Read(write(tc.name, tc.in))
		require.ErrorIs(t, err, ErrFormat, tc.name)
		assert.ErrorContains(t, err, tc.want, tc.name)
	}
}

// TestNumpyFiles reads the files that numpy wrote (testdata/numpy/gen.py, whose docstring gives
// the formulas of the values).
func TestNumpyFiles(t *testing.T) {
	t.Parallel()
	floats := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = (float64(i) - 3) / 4
		}
		return v
	}
	signed := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(i - n/2)
		}
		return v
	}
	unsigned := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(i)
		}
		return v
	}
	bools := make([]float64, 9)
	for i := range bools {
		bools[i] = float64(i % 2)
	}
	for _, tc := range []struct {
		file  string
		want  Array
		error string
	}{
		{file: "f4_2d.npy", want: Array{[]int{3, 4}, floats(12), "<f4"}},
		{file: "f8_1d.npy", want: Array{[]int{7}, floats(7), "<f8"}},
		{file: "f8_be_2d.npy", want: Array{[]int{2, 5}, floats(10), ">f8"}},
		{file: "f4_be_3d.npy", want: Array{[]int{2, 3, 2}, floats(12), ">f4"}},
		{file: "b1_1d.npy", want: Array{[]int{9}, bools, "|b1"}},
		{file: "i1_1d.npy", want: Array{[]int{6}, signed(6), "|i1"}},
		{file: "u1_2d.npy", want: Array{[]int{2, 3}, unsigned(6), "|u1"}},
		{file: "i2_be_1d.npy", want: Array{[]int{5}, signed(5), ">i2"}},
		{file: "u2_1d.npy", want: Array{[]int{5}, unsigned(5), "<u2"}},
		{file: "i4_2d.npy", want: Array{[]int{3, 3}, signed(9), "<i4"}},
		{file: "u4_be_1d.npy", want: Array{[]int{4}, unsigned(4), ">u4"}},
		{file: "i8_1d.npy", want: Array{[]int{8}, signed(8), "<i8"}},
		{file: "u8_be_1d.npy", want: Array{[]int{3}, unsigned(3), ">u8"}},
		{file: "f8_0d.npy", want: Array{[]int{}, []float64{2.5}, "<f8"}},
		{file: "f4_empty.npy", want: Array{[]int{0, 3}, []float64{}, "<f4"}},
		{file: "f4_specials.npy", want: Array{[]int{6}, []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), float64(math.SmallestNonzeroFloat32), float64(math.MaxFloat32)}, "<f4"}},
		{file: "f8_v2.npy", want: Array{[]int{2, 3}, floats(6), "<f8"}},
		{file: "f8_v3.npy", want: Array{[]int{2, 3}, floats(6), "<f8"}},
		{file: "i8_max.npy", error: "element 0 (9223372036854775807) is not exactly representable"},
		{file: "f8_fortran.npy", error: "Fortran order"},
		{file: "f2_1d.npy", error: "float16"},
		{file: "c16_1d.npy", error: "complex numbers"},
		{file: "U3_1d.npy", error: "strings"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "numpy", tc.file)
			a, err := ReadArray(path)
			if tc.error != "" {
				require.ErrorIs(t, err, ErrFormat)
				assert.ErrorContains(t, err, path+": ")
				assert.ErrorContains(t, err, tc.error)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want.Shape, a.Shape)
			assert.Equal(t, tc.want.DType, a.DType)
			// numpy's NaN is the quiet NaN with no payload, float32 0x7fc00000.
			if tc.file == "f4_specials.npy" {
				tc.want.Data[0] = float64(math.Float32frombits(0x7fc00000))
			}
			equalBits(t, tc.want.Data, a.Data, tc.file)
		})
	}
}
