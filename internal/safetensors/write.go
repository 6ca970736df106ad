package safetensors

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
)

// Tensor is a named tensor with its elements in C (row-major) order: F32 holds them when
// DType is F32, F64 when DType is F64, and the other slice is nil.
type Tensor struct {
	// Name is the tensor's key in the header: valid UTF-8, not "__metadata__".
	Name string
	// DType is F32 or F64.
	DType DType
	// Shape holds the dimensions, each ≥ 0, at most [MaxDims] of them; empty for a 0-d tensor.
	Shape []int
	// F32 holds the product of Shape elements when DType is F32.
	F32 []float32
	// F64 holds the product of Shape elements when DType is F64.
	F64 []float64
}

// NewTensor returns the tensor name of the given shape whose elements are data, of dtype F32
// or F64 after T. It does not copy data or shape.
func NewTensor[T Float](name string, shape []int, data []T) Tensor {
	t := Tensor{Name: name, DType: dtypeOf[T](), Shape: shape}
	switch d := any(data).(type) {
	case []float32:
		t.F32 = d
	case []float64:
		t.F64 = d
	}
	return t
}

// Len returns the number of elements the tensor holds: the length of its F32 or F64 slice
// after its DType.
func (t Tensor) Len() int {
	if t.DType == F64 {
		return len(t.F64)
	}
	return len(t.F32)
}

// plan is a file to write: the tensors in file order with their offsets, and the header.
type plan struct {
	tensors []Tensor
	header  []byte
}

// invalidf returns an error wrapping ErrInvalid.
func invalidf(format string, args ...any) error {
	return fileErrorf([]error{ErrInvalid}, format, args...)
}

// prepare checks the tensors and the metadata and lays the file out.
func prepare(tensors []Tensor, metadata map[string]string) (plan, error) {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		where := "tensor " + quote(t.Name)
		switch {
		case !utf8.ValidString(t.Name):
			return plan{}, invalidf("%s: the name is not valid UTF-8", where)
		case t.Name == metadataKey:
			return plan{}, invalidf("%s: the name is reserved for the metadata", where)
		case seen[t.Name]:
			return plan{}, invalidf("%s: the name is used twice", where)
		}
		seen[t.Name] = true
		switch {
		case t.DType == F32 && t.F64 == nil, t.DType == F64 && t.F32 == nil:
		case t.DType == F32 || t.DType == F64:
			return plan{}, invalidf("%s: dtype %s but data in both F32 and F64", where, t.DType)
		default:
			return plan{}, fileErrorf([]error{ErrInvalid, ErrDType}, "%s: dtype %s cannot be written (want F32 or F64)", where, t.DType)
		}
		if len(t.Shape) > MaxDims {
			return plan{}, invalidf("%s: %d dimensions, more than %d", where, len(t.Shape), MaxDims)
		}
		n, ok := elements(t.Shape)
		if !ok {
			return plan{}, invalidf("%s: shape %v has a negative dimension or overflows the element count", where, t.Shape)
		}
		if n != t.Len() {
			return plan{}, invalidf("%s: shape %v needs %d elements but %d are given", where, t.Shape, n, t.Len())
		}
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return plan{}, invalidf("metadata key %s: the key or its value is not valid UTF-8", quote(k))
		}
	}
	order := slices.Clone(tensors)
	slices.SortFunc(order, func(a, b Tensor) int {
		return cmp.Or(cmp.Compare(b.DType.Size(), a.DType.Size()), cmp.Compare(a.Name, b.Name))
	})
	infos := make([]TensorInfo, len(order))
	var off int64
	for i, t := range order {
		size := int64(t.DType.Size())
		if int64(t.Len()) > (math.MaxInt64-off)/size {
			return plan{}, invalidf("tensor %s: the data of the file would exceed %d bytes", quote(t.Name), int64(math.MaxInt64))
		}
		end := off + int64(t.Len())*size
		infos[i] = TensorInfo{Name: t.Name, DType: t.DType, Shape: t.Shape, Begin: off, End: end}
		off = end
	}
	header := encodeHeader(infos, metadata)
	if len(header) > MaxHeaderLen {
		return plan{}, invalidf("the header would be %d bytes, over the limit of %d", len(header), MaxHeaderLen)
	}
	return plan{tensors: order, header: header}, nil
}

// Encode writes the tensors and the metadata (nil or empty for none) to w as a safetensors
// file, laid out as the package documentation says: the same tensors and metadata give the
// same bytes whatever their order in the slice. It returns an error wrapping [ErrInvalid]
// when a tensor's data does not match its shape, its dtype is not F32 or F64 (such errors
// wrap [ErrDType] too), a name is used twice, is "__metadata__" or is not valid UTF-8, a
// metadata string is not valid UTF-8, or the header would exceed [MaxHeaderLen]; then nothing
// is written. Errors of w are returned wrapped. The data go through a 256 KiB buffer: tensors
// of any size are written without a copy of them in memory.
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	p, err := prepare(tensors, metadata)
	if err != nil {
		return err
	}
	return p.write(w, "")
}

// Write writes the tensors and the metadata to path atomically (see [atomicfile.Write]), as
// [Encode] does. Errors are those of Encode, and those of creating and writing the file; on
// error path is left as it was.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	p, err := prepare(tensors, metadata)
	if err != nil {
		return withPath(err, path)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return p.write(w, path) })
}

// write writes the file of p to w; errors name path when it is not empty.
func (p plan) write(w io.Writer, path string) error {
	fail := func(what string, err error) error {
		if path == "" {
			return fmt.Errorf("safetensors: writing %s: %w", what, err)
		}
		return fmt.Errorf("safetensors: %s: writing %s: %w", path, what, err)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(p.header)))
	if _, err := w.Write(n[:]); err != nil {
		return fail("the header", err)
	}
	if _, err := w.Write(p.header); err != nil {
		return fail("the header", err)
	}
	buf := make([]byte, chunk)
	for _, t := range p.tensors {
		var err error
		if t.DType == F32 {
			err = writeData(w, buf, t.F32)
		} else {
			err = writeData(w, buf, t.F64)
		}
		if err != nil {
			return fail("tensor "+quote(t.Name), err)
		}
	}
	return nil
}

// writeData writes the little-endian elements of data to w through buf.
func writeData[T Float](w io.Writer, buf []byte, data []T) error {
	size := dtypeOf[T]().Size()
	for len(data) > 0 {
		m := min(len(data), len(buf)/size)
		b := buf[:m*size]
		switch d := any(data[:m]).(type) {
		case []float32:
			for i, v := range d {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
		case []float64:
			for i, v := range d {
				binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		data = data[m:]
	}
	return nil
}
