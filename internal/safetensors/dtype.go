package safetensors

import "fmt"

// DType is the element type of a tensor. Its zero value is no type.
type DType uint8

// The element types of the format with a whole number of bytes per element, in the order of
// the reference implementation (which orders tensors by decreasing DType when it writes them).
const (
	Bool DType = iota + 1
	U8
	I8
	F8E5M2
	F8E4M3
	I16
	U16
	F16
	BF16
	I32
	U32
	F32
	F64
	I64
	U64
)

// dtypes lists each DType's name in the format and its size in bytes, indexed by DType.
var dtypes = [...]struct {
	name string
	size int
}{
	Bool: {"BOOL", 1}, U8: {"U8", 1}, I8: {"I8", 1}, F8E5M2: {"F8_E5M2", 1}, F8E4M3: {"F8_E4M3", 1},
	I16: {"I16", 2}, U16: {"U16", 2}, F16: {"F16", 2}, BF16: {"BF16", 2},
	I32: {"I32", 4}, U32: {"U32", 4}, F32: {"F32", 4},
	F64: {"F64", 8}, I64: {"I64", 8}, U64: {"U64", 8},
}

// String returns the name of d in the format ("F32", "BF16", "F8_E4M3", …), or "DType(n)"
// for a value that is no DType.
func (d DType) String() string {
	if d.valid() {
		return dtypes[d].name
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size returns the bytes of one element of d, or 0 for a value that is no DType.
func (d DType) Size() int {
	if d.valid() {
		return dtypes[d].size
	}
	return 0
}

func (d DType) valid() bool { return d >= Bool && int(d) < len(dtypes) }

// ParseDType returns the DType named s in the format ("F32", "F64", "BF16", …, in capitals as
// the format writes them). An unknown name is an error wrapping [ErrDType] and [ErrFormat].
func ParseDType(s string) (DType, error) {
	for d := Bool; int(d) < len(dtypes); d++ {
		if dtypes[d].name == s {
			return d, nil
		}
	}
	return 0, fileErrorf([]error{ErrFormat, ErrDType}, "unknown dtype %q (want F32, F64 or another dtype of the format)", s)
}

// Float is the element type of the tensors whose data this package reads and writes.
type Float interface{ float32 | float64 }

// dtypeOf returns the DType of T.
func dtypeOf[T Float]() DType {
	var z T
	if _, ok := any(z).(float32); ok {
		return F32
	}
	return F64
}
