package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"

	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// chunk is the size of the buffer through which data are read and written: a multiple of
// every element size.
const chunk = 256 << 10

// File is a safetensors file whose header has been read and checked; its tensors are read on
// demand. The methods of a File may be called from several goroutines at once (reads are by
// offset), but not concurrently with Close.
type File struct {
	path    string // "" for a reader
	r       io.ReaderAt
	closer  io.Closer // nil for a reader
	size    int64
	dataOff int64 // 8 + the header length
	hdr     Header
	index   map[string]int // position of each tensor in hdr.Tensors
}

// Open opens the safetensors file at path and reads and checks its header (see the package
// documentation). The caller must Close the File. It returns the error of [inputfile.Open]
// when path cannot be opened as a regular file, an error wrapping [ErrFormat] and naming the
// file when the header is malformed, and other read errors wrapped with the path.
func Open(path string) (*File, error) {
	f, size, err := inputfile.Open(path) // a FIFO is refused, not waited on
	if err != nil {
		return nil, err
	}
	sf, err := newFile(f, size, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.closer = f
	return sf, nil
}

// NewReader reads and checks the header of the safetensors file held by the size bytes of r.
// Errors are those of [Open], without a file name. It allocates nothing that the size has not
// been checked against.
func NewReader(r io.ReaderAt, size int64) (*File, error) {
	return newFile(r, size, "")
}

func newFile(r io.ReaderAt, size int64, path string) (*File, error) {
	f := &File{path: path, r: r, size: size}
	if err := f.readHeader(); err != nil {
		return nil, withPath(err, path)
	}
	return f, nil
}

// readHeader reads, parses and checks the header and the layout of the data.
func (f *File) readHeader() error {
	if f.size < 8 {
		return fileErrorf([]error{ErrFormat, ErrTruncated}, "truncated: %d bytes, shorter than the 8-byte header length that starts a safetensors file", max(f.size, 0))
	}
	var lenBytes [8]byte
	if err := f.readAt(lenBytes[:], 0, "header length"); err != nil {
		return err
	}
	n := binary.LittleEndian.Uint64(lenBytes[:])
	if n > MaxHeaderLen {
		return fileErrorf([]error{ErrFormat, ErrHeaderTooLarge}, "the header length %d is over the limit of %d bytes (not a safetensors file?)", n, MaxHeaderLen)
	}
	if int64(n) > f.size-8 {
		return fileErrorf([]error{ErrFormat, ErrTruncated}, "truncated header: the header length is %d bytes but %d bytes follow it", n, f.size-8)
	}
	text := make([]byte, n)
	if err := f.readAt(text, 8, "header"); err != nil {
		return err
	}
	h, err := parseHeader(text)
	if err != nil {
		return err
	}
	f.dataOff = 8 + int64(n)
	if err := checkLayout(h.Tensors, f.size-f.dataOff); err != nil {
		return err
	}
	f.hdr = h
	f.index = make(map[string]int, len(h.Tensors))
	for i, t := range h.Tensors {
		f.index[t.Name] = i
	}
	return nil
}

// readAt fills p from offset off, which the caller has checked against the size.
func (f *File) readAt(p []byte, off int64, what string) error {
	n, err := f.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return withPath(fileErrorf([]error{ErrFormat, ErrTruncated}, "%s truncated: %d of %d bytes at offset %d could be read (the file changed while being read?)", what, n, len(p), off), f.path)
	}
	if f.path == "" {
		return fmt.Errorf("safetensors: reading the %s: %w", what, err)
	}
	return fmt.Errorf("safetensors: %s: reading the %s: %w", f.path, what, err)
}

// Close closes the file opened by [Open]; for a File of [NewReader] it does nothing.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// Header returns a copy of the header: the tensors in the order of their data, and the
// metadata.
func (f *File) Header() Header {
	h := Header{Tensors: make([]TensorInfo, len(f.hdr.Tensors)), Metadata: maps.Clone(f.hdr.Metadata)}
	for i, t := range f.hdr.Tensors {
		t.Shape = slices.Clone(t.Shape)
		h.Tensors[i] = t
	}
	return h
}

// Metadata returns a copy of the metadata; nil when the file has none.
func (f *File) Metadata() map[string]string { return maps.Clone(f.hdr.Metadata) }

// Lookup returns the description of the tensor name, and whether the file holds it.
func (f *File) Lookup(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	t := f.hdr.Tensors[i]
	t.Shape = slices.Clone(t.Shape)
	return t, true
}

// errorf returns an error of this package naming the file.
func (f *File) errorf(is []error, format string, args ...any) error {
	return withPath(fileErrorf(is, format, args...), f.path)
}

// ReadInto reads the elements of the tensor name of f into dst, which must have exactly as
// many elements. It returns an error wrapping [ErrNotFound] when f has no such tensor,
// [ErrDType] when the tensor's dtype is not that of T (no conversion is made), [ErrInvalid]
// when len(dst) is not the tensor's element count, and an error wrapping [ErrTruncated] when
// the file has become shorter since it was opened. It allocates at most 256 KiB.
func ReadInto[T Float](f *File, name string, dst []T) error {
	i, ok := f.index[name]
	if !ok {
		return f.errorf([]error{ErrNotFound}, "no tensor %s in the file", quote(name))
	}
	t := f.hdr.Tensors[i]
	if want := dtypeOf[T](); t.DType != want {
		if t.DType != F32 && t.DType != F64 {
			return f.errorf([]error{ErrDType}, "tensor %s is %s: only the data of F32 and F64 tensors is read", quote(name), t.DType)
		}
		return f.errorf([]error{ErrDType}, "tensor %s is %s, not %s", quote(name), t.DType, want)
	}
	if n := t.Elements(); len(dst) != n {
		return f.errorf([]error{ErrInvalid}, "tensor %s has %d elements (shape %v) but the destination has %d", quote(name), n, t.Shape, len(dst))
	}
	size := t.DType.Size()
	buf := make([]byte, min(int64(chunk), t.End-t.Begin))
	for first := 0; first < len(dst); {
		m := min(len(dst)-first, chunk/size)
		b := buf[:m*size]
		if err := f.readAt(b, f.dataOff+t.Begin+int64(first)*int64(size), "data of tensor "+quote(name)); err != nil {
			return err
		}
		decode(dst[first:first+m], b)
		first += m
	}
	return nil
}

// decode sets dst from the little-endian elements of b (len(b) = len(dst)·size of T).
func decode[T Float](dst []T, b []byte) {
	switch d := any(dst).(type) {
	case []float32:
		for i := range d {
			d[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case []float64:
		for i := range d {
			d[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
}

// Tensor reads the tensor name of f into a new Tensor. Errors are those of [ReadInto]; a
// tensor of another dtype than F32 or F64 wraps [ErrDType].
func (f *File) Tensor(name string) (Tensor, error) {
	info, ok := f.Lookup(name)
	if !ok {
		return Tensor{}, f.errorf([]error{ErrNotFound}, "no tensor %s in the file", quote(name))
	}
	t := Tensor{Name: name, DType: info.DType, Shape: info.Shape}
	var err error
	switch info.DType {
	case F32:
		t.F32 = make([]float32, info.Elements())
		err = ReadInto(f, name, t.F32)
	case F64:
		t.F64 = make([]float64, info.Elements())
		err = ReadInto(f, name, t.F64)
	default:
		err = f.errorf([]error{ErrDType}, "tensor %s is %s: only the data of F32 and F64 tensors is read", quote(name), info.DType)
	}
	if err != nil {
		return Tensor{}, err
	}
	return t, nil
}

// Tensors reads every tensor of f, in the order of their data. Errors are those of
// [File.Tensor]: every tensor must be F32 or F64.
func (f *File) Tensors() ([]Tensor, error) {
	out := make([]Tensor, 0, len(f.hdr.Tensors))
	for _, info := range f.hdr.Tensors {
		t, err := f.Tensor(info.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Read reads every tensor of the file at path, in the order of their data, and its metadata
// (nil when it has none). Errors are those of [Open] and [File.Tensor]. It allocates the
// tensors' elements, as many bytes as the file holds, and no more than 256 KiB besides.
func Read(path string) ([]Tensor, map[string]string, error) {
	f, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	ts, err := f.Tensors()
	if err != nil {
		return nil, nil, err
	}
	return ts, f.Metadata(), nil
}

// ReadHeader reads and checks the header of the file at path, and that its data is laid out
// as the header says, without reading the data. Errors are those of [Open].
func ReadHeader(path string) (Header, error) {
	f, err := Open(path)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	return f.Header(), nil
}
