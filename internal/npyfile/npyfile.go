// Package npyfile reads and writes 2-D matrices as NumPy .npy files (float32 or float64, C order)
// reading through codeberg.org/sbinet/npyio, with errors that name the file.
package npyfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"codeberg.org/sbinet/npyio/npy"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/internal/atomicfile"
)

// ErrFormat reports a file that is not a 2-D float32/float64 C-order .npy array.
var ErrFormat = errors.New("npyfile: unsupported array")

// Read returns the 2-D array stored in path as float64. A 1-D array of length n is read as an
// n×1 matrix. It returns an error naming the file when it cannot be opened or parsed, when the
// array is not float32 or float64, or when it is in Fortran order. NaN and Inf are returned as
// they are: the estimator functions reject them.
func Read(path string) (estimator.Dense[float64], error) {
	f, err := os.Open(path)
	if err != nil {
		return estimator.Dense[float64]{}, err
	}
	defer f.Close()
	r, err := npy.NewReader(f)
	if err != nil {
		return estimator.Dense[float64]{}, fmt.Errorf("%s: not a .npy file: %w", path, err)
	}
	d := r.Header.Descr
	if d.Fortran {
		return estimator.Dense[float64]{}, fmt.Errorf("%w: %s is in Fortran order; save it with numpy.ascontiguousarray", ErrFormat, path)
	}
	rows, cols := 0, 1
	switch len(d.Shape) {
	case 1:
		rows = d.Shape[0]
	case 2:
		rows, cols = d.Shape[0], d.Shape[1]
	default:
		return estimator.Dense[float64]{}, fmt.Errorf("%w: %s has %d dimensions, want 2", ErrFormat, path, len(d.Shape))
	}
	var data []float64
	switch strings.Trim(d.Type, `'"`) {
	case "<f8", "float64":
		if err := r.Read(&data); err != nil {
			return estimator.Dense[float64]{}, fmt.Errorf("%s: %w", path, err)
		}
	case "<f4", "float32":
		var f32 []float32
		if err := r.Read(&f32); err != nil {
			return estimator.Dense[float64]{}, fmt.Errorf("%s: %w", path, err)
		}
		data = make([]float64, len(f32))
		for i, v := range f32 {
			data[i] = float64(v)
		}
	default:
		return estimator.Dense[float64]{}, fmt.Errorf("%w: %s holds %s, want float32 (<f4) or float64 (<f8)", ErrFormat, path, d.Type)
	}
	m, err := estimator.NewDense(rows, cols, data)
	if err != nil {
		return estimator.Dense[float64]{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Write stores m in path as a 2-D C-order .npy file (version 1.0, '<f4' or '<f8'), atomically:
// it writes a temporary file in the same directory and renames it.
func Write[T estimator.Float](path string, m estimator.Dense[T]) error {
	var buf bytes.Buffer
	var descr string
	switch data := any(m.Data).(type) {
	case []float64:
		descr = "<f8"
		for _, v := range data {
			buf.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)))
		}
	case []float32:
		descr = "<f4"
		for _, v := range data {
			buf.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)))
		}
	default:
		return fmt.Errorf("%w: element type %T", ErrFormat, m.Data)
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }", descr, m.Rows, m.Cols)
	// magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in \n.
	pad := 64 - (10+len(header)+1)%64
	if pad == 64 {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	var out bytes.Buffer
	out.WriteString("\x93NUMPY\x01\x00")
	out.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(header))))
	out.WriteString(header)
	out.Write(buf.Bytes())
	return atomicfile.WriteFile(path, out.Bytes())
}
