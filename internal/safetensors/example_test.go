package safetensors_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wtacrs/wtacrs/internal/safetensors"
)

// Two tensors written to a file and described from its header; then the same file with its
// last byte missing.
func Example() {
	dir, err := os.MkdirTemp("", "safetensors-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "weights.safetensors")

	err = safetensors.Write(path, []safetensors.Tensor{
		safetensors.NewTensor("w", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		safetensors.NewTensor("step", []int{}, []float64{100}),
	}, map[string]string{"note": "example"})
	fmt.Println(err)

	h, err := safetensors.ReadHeader(path)
	for _, t := range h.Tensors {
		fmt.Println(t.Name, t.DType, t.Shape, t.Elements(), t.Begin, t.End)
	}
	fmt.Println(h.Metadata, err)

	f, err := safetensors.Open(path)
	if err != nil {
		panic(err)
	}
	w := make([]float32, 6)
	fmt.Println(safetensors.ReadInto(f, "w", w), w)
	f.Close()

	b, _ := os.ReadFile(path)
	os.WriteFile(path, b[:len(b)-1], 0o644)
	_, err = safetensors.ReadHeader(path)
	fmt.Println(errors.Is(err, safetensors.ErrTruncated), errors.Is(err, safetensors.ErrFormat))
	// Output:
	// <nil>
	// step F64 [] 1 0 8
	// w F32 [2 3] 6 8 32
	// map[note:example] <nil>
	// <nil> [1 2 3 4 5 6]
	// true true
}
