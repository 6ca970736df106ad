package npyfile_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/wtacrs/wtacrs/internal/npyfile"
)

// A file with the keys in another order, double quotes and big-endian 2-byte integers, as
// another writer may produce it; then the same array with one byte missing.
func ExampleDecode() {
	header := `{"shape": (2, 2), "fortran_order": False, "descr": ">i2"}` + "\n"
	file := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), 0)
	file = append(file, header...)
	file = append(file, 0, 1, 0, 2, 0xff, 0xfd, 1, 0)
	a, err := npyfile.Decode(bytes.NewReader(file), int64(len(file)))
	fmt.Println(a.Shape, a.DType, a.Data, err)

	short := file[:len(file)-1]
	_, err = npyfile.Decode(bytes.NewReader(short), int64(len(short)))
	fmt.Println(errors.Is(err, npyfile.ErrFormat))
	fmt.Println(err)
	// Output:
	// [2 2] >i2 [1 2 -3 256] <nil>
	// true
	// npyfile: malformed or unsupported .npy file: truncated data: shape [2 2] of >i2 needs 8 bytes but the file holds 7 after the header
}

// Encode stores the values in the element type asked for, and refuses those it cannot store
// exactly.
func ExampleEncode() {
	var buf bytes.Buffer
	err := npyfile.Encode(&buf, npyfile.Array{Shape: []int{3}, Data: []float64{1, 0, 1}, DType: "|b1"})
	fmt.Println(buf.Len(), err)
	err = npyfile.Encode(&buf, npyfile.Array{Shape: []int{1}, Data: []float64{0.5}, DType: "<i4"})
	fmt.Println(err)
	// Output:
	// 131 <nil>
	// npyfile: malformed or unsupported .npy file: element 0 (0.5) cannot be stored exactly as <i4
}
