package npyfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf8"

	"github.com/wtacrs/wtacrs/internal/inputfile"
	"github.com/wtacrs/wtacrs/matrix"
)

// ErrFormat reports a file that is not a .npy array this package reads (malformed, truncated,
// with trailing bytes, of an unsupported dtype or order), or an array that cannot be written
// in the format asked for.
var ErrFormat = errors.New("npyfile: malformed or unsupported .npy file")

// Array is an n-dimensional array in C (row-major) order.
type Array struct {
	// Shape holds the dimensions; it is empty for a 0-d array, which has one element.
	Shape []int
	// Data holds the product of Shape elements, converted to float64 (bools as 0 and 1).
	Data []float64
	// DType is the element type in the file as a numpy descr: '|' for 1-byte types, '<' or
	// '>' (the byte order) otherwise, then the kind and the size: "<f4", ">f8", "|b1",
	// "|u1", "<i8".
	DType string
}

// ReadArray reads the .npy file at path (see the package documentation for what is accepted).
// It returns the error of os.Open when the file cannot be opened, an error wrapping ErrFormat
// and naming the file when its content is malformed or unsupported, and other read errors
// wrapped with the path.
func ReadArray(path string) (Array, error) {
	f, d, err := open(path)
	if err != nil {
		return Array{}, err
	}
	defer f.Close()
	return d.decode()
}

// Info describes a .npy file from its header.
type Info struct {
	// Shape holds the dimensions (empty for a 0-d array).
	Shape []int
	// DType is the element type, as in [Array].
	DType string
	// Elements is the product of Shape: the float64 values [ReadArray] would allocate.
	Elements int
}

// ReadInfo reads and checks the header of the .npy file at path, and that the file holds
// exactly the data the header declares, without reading the data: a caller can check the
// memory an array needs (8 bytes an element as float64) before [ReadArray] allocates it. Errors
// are those of ReadArray.
func ReadInfo(path string) (Info, error) {
	f, d, err := open(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	h, err := d.header()
	if err != nil {
		return Info{}, err
	}
	n, err := d.checkSize(h)
	if err != nil {
		return Info{}, err
	}
	return Info{Shape: h.shape, DType: h.dtype.String(), Elements: n}, nil
}

// Decode reads one .npy array from the size bytes of r. Errors are those of [ReadArray],
// without a file name. It allocates nothing that the size has not been checked against.
func Decode(r io.ReaderAt, size int64) (Array, error) {
	d := &decoder{r: r, size: size}
	return d.decode()
}

// Read returns the 2-D float32 or float64 array stored in path as a float64 matrix. A 1-D array
// of length n is read as an n×1 matrix. It returns the error of os.Open when the file cannot be
// opened, and an error wrapping ErrFormat and naming the file when it is not a .npy file this
// package reads, when the array is not float32 or float64 or has another number of dimensions.
// NaN and Inf are returned as they are: the estimator functions reject them.
func Read(path string) (matrix.Dense[float64], error) {
	f, d, err := open(path)
	if err != nil {
		return matrix.Dense[float64]{}, err
	}
	defer f.Close()
	h, err := d.header()
	if err != nil {
		return matrix.Dense[float64]{}, err
	}
	if h.dtype.kind != 'f' {
		return matrix.Dense[float64]{}, d.errorf("holds %s, want float32 (<f4) or float64 (<f8)", h.dtype)
	}
	rows, cols := 0, 1
	switch len(h.shape) {
	case 1:
		rows = h.shape[0]
	case 2:
		rows, cols = h.shape[0], h.shape[1]
	default:
		return matrix.Dense[float64]{}, d.errorf("has %d dimensions, want 2", len(h.shape))
	}
	data, err := d.data(h)
	if err != nil {
		return matrix.Dense[float64]{}, err
	}
	m, err := matrix.NewDense(rows, cols, data)
	if err != nil {
		return matrix.Dense[float64]{}, fmt.Errorf("%s: %w", d.name, err)
	}
	return m, nil
}

// open opens a regular file and returns a decoder of its content.
func open(path string) (*os.File, *decoder, error) {
	f, size, err := inputfile.Open(path) // a FIFO is refused, not waited on
	if errors.Is(err, inputfile.ErrNotRegular) {
		return nil, nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if err != nil {
		return nil, nil, err
	}
	return f, &decoder{name: path, r: f, size: size}, nil
}

// decoder reads a .npy array from the size bytes of r; name (a path, or empty) prefixes errors.
type decoder struct {
	name    string
	r       io.ReaderAt
	size    int64
	dataOff int64 // set by header
}

// errorf returns an error wrapping ErrFormat, naming the file.
func (d *decoder) errorf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if d.name == "" {
		return fmt.Errorf("%w: %s", ErrFormat, msg)
	}
	return fmt.Errorf("%w: %s: %s", ErrFormat, d.name, msg)
}

// readAt fills p from offset off, which the caller has checked against the size.
func (d *decoder) readAt(p []byte, off int64, what string) error {
	n, err := d.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.errorf("%s truncated: %d of %d bytes at offset %d could be read (the file changed while being read?)", what, n, len(p), off)
	}
	if d.name == "" {
		return fmt.Errorf("npyfile: reading the %s: %w", what, err)
	}
	return fmt.Errorf("npyfile: %s: reading the %s: %w", d.name, what, err)
}

func (d *decoder) decode() (Array, error) {
	h, err := d.header()
	if err != nil {
		return Array{}, err
	}
	data, err := d.data(h)
	if err != nil {
		return Array{}, err
	}
	return Array{Shape: h.shape, Data: data, DType: h.dtype.String()}, nil
}

// header reads and checks the preamble and the header and sets d.dataOff.
func (d *decoder) header() (header, error) {
	if d.size < 0 {
		return header{}, d.errorf("negative size %d", d.size)
	}
	var pre [12]byte
	n := int(min(d.size, int64(len(pre))))
	if err := d.readAt(pre[:n], 0, "preamble"); err != nil {
		return header{}, err
	}
	if k := min(n, len(magic)); !bytes.Equal(pre[:k], []byte(magic)[:k]) {
		return header{}, d.errorf(`not a .npy file: it starts with %q, not the magic "\x93NUMPY"`, pre[:k])
	}
	if n < 10 {
		return header{}, d.errorf("truncated: %d bytes, shorter than the 10-byte preamble of a .npy file", d.size)
	}
	major, minor := pre[6], pre[7]
	var hlen, off int64
	switch {
	case major == 1 && minor == 0:
		hlen, off = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case (major == 2 || major == 3) && minor == 0:
		if n < 12 {
			return header{}, d.errorf("truncated: %d bytes, shorter than the 12-byte preamble of a version %d.0 .npy file", d.size, major)
		}
		hlen, off = int64(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		return header{}, d.errorf("unsupported format version %d.%d (want 1.0, 2.0 or 3.0)", major, minor)
	}
	if hlen > d.size-off {
		return header{}, d.errorf("truncated header: the header length is %d bytes but %d bytes follow the preamble", hlen, d.size-off)
	}
	if hlen > MaxHeaderLen {
		return header{}, d.errorf("header length %d is over the limit of %d bytes", hlen, MaxHeaderLen)
	}
	text := make([]byte, hlen)
	if err := d.readAt(text, off, "header"); err != nil {
		return header{}, err
	}
	if major == 3 && !utf8.Valid(text) {
		return header{}, d.errorf("the header of a version 3.0 file is not valid UTF-8")
	}
	h, err := parseHeader(text)
	if err != nil {
		return header{}, d.errorf("header %s: %v", quoteHeader(text), err)
	}
	if h.fortran {
		return header{}, d.errorf("the array is in Fortran order; save it with numpy.ascontiguousarray")
	}
	d.dataOff = off + hlen
	return h, nil
}

// quoteHeader quotes a header for an error message, shortened to its first 200 bytes.
func quoteHeader(text []byte) string {
	const most = 200
	if len(text) > most {
		return fmt.Sprintf("%q…", text[:most])
	}
	return fmt.Sprintf("%q", text)
}

// elements returns the element count of a shape, or an error if it overflows an int. A shape
// with a zero dimension has no elements, but the product of its other dimensions must not
// overflow either.
func elements(shape []int) (int, bool) {
	n, zero := 1, false
	for _, s := range shape {
		if s == 0 {
			zero = true
			continue
		}
		if n > maxInt/s {
			return 0, false
		}
		n *= s
	}
	if zero {
		return 0, true
	}
	return n, true
}

// data checks that the bytes after the header are exactly those h declares and converts them.
func (d *decoder) data(h header) ([]float64, error) {
	n, err := d.checkSize(h)
	if err != nil {
		return nil, err
	}
	want := int64(n) * int64(h.dtype.size)
	out := make([]float64, n)
	const chunk = 1 << 16 // a multiple of every element size
	buf := make([]byte, min(int64(chunk), want))
	for first := 0; first < n; {
		m := min(n-first, chunk/h.dtype.size)
		b := buf[:m*h.dtype.size]
		if err := d.readAt(b, d.dataOff+int64(first)*int64(h.dtype.size), "data"); err != nil {
			return nil, err
		}
		if i, err := convert(out[first:first+m], b, h.dtype); err != nil {
			return nil, d.errorf("element %d %v", first+i, err)
		}
		first += m
	}
	return out, nil
}

// checkSize returns the element count of h after checking that the file holds exactly the data
// the header declares.
func (d *decoder) checkSize(h header) (int, error) {
	n, ok := elements(h.shape)
	if !ok || n > maxInt/h.dtype.size {
		return 0, d.errorf("shape %v of %d-byte elements overflows the element or byte count", h.shape, h.dtype.size)
	}
	want, have := int64(n)*int64(h.dtype.size), d.size-d.dataOff
	if have < want {
		return 0, d.errorf("truncated data: shape %v of %s needs %d bytes but the file holds %d after the header", h.shape, h.dtype, want, have)
	}
	if have > want {
		return 0, d.errorf("%d trailing bytes after the %d bytes of data that shape %v of %s needs", have-want, want, h.shape, h.dtype)
	}
	return n, nil
}

// convert decodes the elements of b, of type t, into dst (len(b) = len(dst)·t.size). On error
// it returns the index of the element that cannot be converted exactly.
func convert(dst []float64, b []byte, t dtype) (int, error) {
	var bo binary.ByteOrder = binary.LittleEndian
	if t.big {
		bo = binary.BigEndian
	}
	switch {
	case t.kind == 'b':
		for i, c := range b {
			if c != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	case t.kind == 'f' && t.size == 4:
		for i := range dst {
			dst[i] = float64(math.Float32frombits(bo.Uint32(b[4*i:])))
		}
	case t.kind == 'f':
		for i := range dst {
			dst[i] = math.Float64frombits(bo.Uint64(b[8*i:]))
		}
	case t.kind == 'i' && t.size == 1:
		for i, c := range b {
			dst[i] = float64(int8(c))
		}
	case t.kind == 'u' && t.size == 1:
		for i, c := range b {
			dst[i] = float64(c)
		}
	case t.kind == 'i' && t.size == 2:
		for i := range dst {
			dst[i] = float64(int16(bo.Uint16(b[2*i:])))
		}
	case t.kind == 'u' && t.size == 2:
		for i := range dst {
			dst[i] = float64(bo.Uint16(b[2*i:]))
		}
	case t.kind == 'i' && t.size == 4:
		for i := range dst {
			dst[i] = float64(int32(bo.Uint32(b[4*i:])))
		}
	case t.kind == 'u' && t.size == 4:
		for i := range dst {
			dst[i] = float64(bo.Uint32(b[4*i:]))
		}
	case t.kind == 'i':
		for i := range dst {
			v := int64(bo.Uint64(b[8*i:]))
			f := float64(v)
			if f == 0x1p63 || int64(f) != v {
				return i, fmt.Errorf("(%d) is not exactly representable as float64", v)
			}
			dst[i] = f
		}
	case t.kind == 'u':
		for i := range dst {
			v := bo.Uint64(b[8*i:])
			f := float64(v)
			if f == 0x1p64 || uint64(f) != v {
				return i, fmt.Errorf("(%d) is not exactly representable as float64", v)
			}
			dst[i] = f
		}
	default:
		panic(fmt.Sprintf("npyfile: convert: dtype %v not handled", t))
	}
	return 0, nil
}
