package checkpoint

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wtacrs/wtacrs/internal/safetensors"
	"github.com/wtacrs/wtacrs/matrix"
)

// Tensor is a named tensor of float32 or float64 elements in C order, for [SaveTensors]:
// F32 holds the elements when DType is [F32], F64 when it is [F64].
type Tensor = safetensors.Tensor

// The element types of a [Tensor].
const (
	F32 = safetensors.F32
	F64 = safetensors.F64
)

// NewTensor returns the tensor name of the given shape (empty for a scalar) whose elements
// are data, without copying them.
func NewTensor[T matrix.Float](name string, shape []int, data []T) Tensor {
	return safetensors.NewTensor(name, shape, data)
}

// tensorsPath returns path with the extension ".safetensors", added when missing.
func tensorsPath(path string) (string, error) {
	if err := checkPath(path); err != nil {
		return "", err
	}
	if !strings.HasSuffix(path, ".safetensors") {
		path += ".safetensors"
	}
	return path, nil
}

// SaveTensors writes named tensors and string metadata (the training state: optimiser
// moments, counters) to path, with ".safetensors" added when it lacks it, atomically. The
// file is a plain safetensors file with the layout of the package documentation; the data
// go to the file through a 256 KiB buffer, without a copy of the tensors. Errors wrap
// ErrInvalid for tensors whose data do not match their shape, a name used twice or
// "__metadata__"; on error the file is left as it was.
func SaveTensors(path string, tensors []Tensor, metadata map[string]string) error {
	path, err := tensorsPath(path)
	if err != nil {
		return err
	}
	if err := safetensors.Write(path, tensors, metadata); err != nil {
		return tensorErr(err)
	}
	return nil
}

// LoadTensors reads every tensor of the file written by [SaveTensors] at path (".safetensors"
// added when missing), in the order of their data, and its metadata (nil when none). It
// allocates the tensors' elements once. Errors wrap ErrFormat for a malformed file
// (ErrTruncated among them) and ErrDType for a tensor that is not F32 or F64.
func LoadTensors(path string) ([]Tensor, map[string]string, error) {
	path, err := tensorsPath(path)
	if err != nil {
		return nil, nil, err
	}
	ts, md, err := safetensors.Read(path)
	if err != nil {
		if errDType(err) {
			return nil, nil, wrapped{err, ErrDType}
		}
		return nil, nil, tensorErr(err)
	}
	return ts, md, nil
}

// errDType reports an error of a tensor whose dtype is not read (not a malformed file).
func errDType(err error) bool {
	return errors.Is(err, safetensors.ErrDType) && !errors.Is(err, safetensors.ErrFormat)
}

// LoadTensorsInto fills the tensors of dst, allocated by the caller, from the tensors of the
// same names of the file at path (".safetensors" added when missing), and returns the file's
// metadata: a resumed run reads its optimiser state into the buffers it already has, without
// a second copy. Every tensor of dst must be in the file with its dtype and shape; tensors of
// the file that dst lacks are left unread. All checks are made before any tensor is read.
// Errors wrap ErrMissingTensor, ErrDType, ErrShape (both shapes named), ErrInvalid (a tensor
// of dst whose data do not match its shape) and those of [LoadTensors].
func LoadTensorsInto(path string, dst []Tensor) (map[string]string, error) {
	path, err := tensorsPath(path)
	if err != nil {
		return nil, err
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, tensorErr(err)
	}
	defer f.Close()
	for _, d := range dst {
		t, ok := f.Lookup(d.Name)
		switch {
		case d.DType != F32 && d.DType != F64:
			return nil, fmt.Errorf("%w: tensor %q: dtype %s (want F32 or F64)", ErrInvalid, d.Name, d.DType)
		case !ok:
			return nil, fmt.Errorf("%w: %s has no tensor %q", ErrMissingTensor, path, d.Name)
		case t.DType != d.DType:
			return nil, fmt.Errorf("%w: %s: tensor %q is %s, not %s", ErrDType, path, d.Name, t.DType, d.DType)
		case !slices.Equal(t.Shape, d.Shape):
			return nil, fmt.Errorf("%w: %s: tensor %q is %v in the file but %v in the destination", ErrShape, path, d.Name, t.Shape, d.Shape)
		case d.Len() != t.Elements():
			return nil, fmt.Errorf("%w: tensor %q has shape %v but %d elements", ErrInvalid, d.Name, d.Shape, d.Len())
		}
	}
	for _, d := range dst {
		if d.DType == F32 {
			err = safetensors.ReadInto(f, d.Name, d.F32)
		} else {
			err = safetensors.ReadInto(f, d.Name, d.F64)
		}
		if err != nil {
			return nil, tensorErr(err)
		}
	}
	return f.Metadata(), nil
}

// TensorInfo describes one tensor of a file: name, dtype, shape and data offsets.
type TensorInfo = safetensors.TensorInfo

// ReadTensorsHeader returns the tensors of the file written by [SaveTensors] at path
// (".safetensors" added when missing), in the order of their data, and its metadata, without
// reading the data. Errors are those of [LoadTensors].
func ReadTensorsHeader(path string) ([]TensorInfo, map[string]string, error) {
	path, err := tensorsPath(path)
	if err != nil {
		return nil, nil, err
	}
	h, err := safetensors.ReadHeader(path)
	if err != nil {
		return nil, nil, tensorErr(err)
	}
	return h.Tensors, h.Metadata, nil
}
