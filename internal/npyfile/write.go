package npyfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/matrix"
)

// Write stores m in path as a 2-D C-order .npy file (version 1.0, '<f4' or '<f8'), atomically:
// it writes a temporary file in the same directory and renames it. It returns an error wrapping
// ErrFormat, and writes nothing, when a dimension is negative or len(m.Data) ≠ m.Rows·m.Cols.
// [Read] returns every value it writes bit for bit (a float32 signalling NaN comes back as a
// quiet NaN, as any conversion to float64 makes it).
func Write[T matrix.Float](path string, m matrix.Dense[T]) error {
	var t dtype
	switch any(m.Data).(type) {
	case []float64:
		t = dtype{kind: 'f', size: 8}
	case []float32:
		t = dtype{kind: 'f', size: 4}
	default:
		return fmt.Errorf("%w: %s: element type %T", ErrFormat, path, m.Data)
	}
	if n, ok := elements([]int{m.Rows, m.Cols}); m.Rows < 0 || m.Cols < 0 || !ok || n != len(m.Data) {
		return fmt.Errorf("%w: %s: %d elements for a %dx%d matrix", ErrFormat, path, len(m.Data), m.Rows, m.Cols)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		if _, err := io.WriteString(w, encodeHeader(t, []int{m.Rows, m.Cols})); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<16)
		flush := func() error {
			_, err := w.Write(buf)
			buf = buf[:0]
			return err
		}
		switch data := any(m.Data).(type) {
		case []float64:
			for _, v := range data {
				buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
				if len(buf) == cap(buf) {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		case []float32:
			for _, v := range data {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if len(buf) == cap(buf) {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		return flush()
	})
}

// WriteArray stores a in path as a C-order .npy file (version 1.0) of element type a.DType,
// atomically: it writes a temporary file in the same directory and renames it. a.DType is any
// descr the reader accepts and is written in the canonical form of [Array.DType]. It returns
// the errors of [Encode], and then writes nothing. [ReadArray] returns a as it was written.
func WriteArray(path string, a Array) error {
	t, err := a.check()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return encode(w, t, a) })
}

// Encode writes a to w as a C-order .npy file (version 1.0) of element type a.DType. It returns
// an error wrapping ErrFormat, before writing anything, when a.DType is not a supported dtype,
// when a dimension is negative, when there are more than [MaxDims] dimensions, when len(a.Data)
// is not the product of a.Shape, or when an element cannot be stored exactly in a.DType (a
// fraction, NaN, ±Inf or an out-of-range value for an integer type, anything but 0 and 1 for
// bool, a finite float64 that float32 cannot hold; a NaN is stored as a float32 NaN, without
// the payload bits float32 lacks). Errors of w are returned as they are.
func Encode(w io.Writer, a Array) error {
	t, err := a.check()
	if err != nil {
		return err
	}
	return encode(w, t, a)
}

// check validates a for writing and returns its dtype.
func (a Array) check() (dtype, error) {
	t, err := parseDescr(a.DType)
	if err != nil {
		return dtype{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(a.Shape) > MaxDims {
		return dtype{}, fmt.Errorf("%w: %d dimensions, more than %d", ErrFormat, len(a.Shape), MaxDims)
	}
	for _, s := range a.Shape {
		if s < 0 {
			return dtype{}, fmt.Errorf("%w: negative dimension in shape %v", ErrFormat, a.Shape)
		}
	}
	n, ok := elements(a.Shape)
	if !ok {
		return dtype{}, fmt.Errorf("%w: shape %v overflows the element count", ErrFormat, a.Shape)
	}
	if n != len(a.Data) {
		return dtype{}, fmt.Errorf("%w: %d elements for shape %v", ErrFormat, len(a.Data), a.Shape)
	}
	for i, v := range a.Data {
		if !representable(v, t) {
			return dtype{}, fmt.Errorf("%w: element %d (%v) cannot be stored exactly as %s", ErrFormat, i, v, t)
		}
	}
	return t, nil
}

// representable reports whether v can be stored exactly in t.
func representable(v float64, t dtype) bool {
	bits := float64(8 * t.size)
	switch t.kind {
	case 'b':
		return v == 0 || v == 1
	case 'f':
		return t.size == 8 || math.IsNaN(v) || float64(float32(v)) == v
	case 'i':
		lim := math.Ldexp(1, int(bits)-1)
		return v == math.Trunc(v) && v >= -lim && v < lim
	case 'u':
		return v == math.Trunc(v) && v >= 0 && v < math.Ldexp(1, int(bits))
	}
	return false
}

// encodeHeader returns the preamble and header of a version 1.0 file, padded with spaces so
// that the data starts at a multiple of 64 bytes, as numpy writes them.
func encodeHeader(t dtype, shape []int) string {
	var sb strings.Builder
	sb.WriteString("{'descr': '" + t.String() + "', 'fortran_order': False, 'shape': (")
	for i, s := range shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(s))
	}
	if len(shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString("), }")
	h := sb.String()
	// magic (6) + version (2) + length (2) + header + '\n', a multiple of 64.
	h += strings.Repeat(" ", (64-(10+len(h)+1)%64)%64) + "\n"
	return magic + "\x01\x00" + string(binary.LittleEndian.AppendUint16(nil, uint16(len(h)))) + h
}

// encode writes a, already checked to be storable as t.
func encode(w io.Writer, t dtype, a Array) error {
	if _, err := io.WriteString(w, encodeHeader(t, a.Shape)); err != nil {
		return err
	}
	var bo binary.AppendByteOrder = binary.LittleEndian
	if t.big {
		bo = binary.BigEndian
	}
	buf := make([]byte, 0, 1<<16)
	for i, v := range a.Data {
		switch {
		case t.kind == 'b' || t.size == 1 && t.kind == 'u':
			buf = append(buf, byte(v))
		case t.size == 1:
			buf = append(buf, byte(int8(v)))
		case t.kind == 'f' && t.size == 4:
			buf = bo.AppendUint32(buf, math.Float32bits(float32(v)))
		case t.kind == 'f':
			buf = bo.AppendUint64(buf, math.Float64bits(v))
		case t.kind == 'i' && t.size == 2:
			buf = bo.AppendUint16(buf, uint16(int16(v)))
		case t.kind == 'u' && t.size == 2:
			buf = bo.AppendUint16(buf, uint16(v))
		case t.kind == 'i' && t.size == 4:
			buf = bo.AppendUint32(buf, uint32(int32(v)))
		case t.kind == 'u' && t.size == 4:
			buf = bo.AppendUint32(buf, uint32(v))
		case t.kind == 'i':
			buf = bo.AppendUint64(buf, uint64(int64(v)))
		default:
			buf = bo.AppendUint64(buf, uint64(v))
		}
		if len(buf) >= cap(buf)-8 || i == len(a.Data)-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}
