package npyfile

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/wtacrs/wtacrs/matrix"
)

// FuzzRead decodes any bytes. It must never panic; an error must wrap ErrFormat; an accepted
// array must hold the product of its shape, re-encode in its own dtype and decode to the same
// array, and, for float dtypes in 1-D or 2-D, go through Write and Read unchanged. The seeds
// are the regression cases of the tests; testdata/fuzz/FuzzRead holds them and numpy's files.
func FuzzRead(f *testing.F) {
	for _, c := range malformedCases() {
		f.Add(c.in)
	}
	for _, c := range validCases() {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := Decode(bytes.NewReader(in), int64(len(in)))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		typ, err := parseDescr(a.DType)
		if err != nil || typ.String() != a.DType {
			t.Fatalf("DType %q is not canonical: %v", a.DType, err)
		}
		if n, ok := elements(a.Shape); !ok || n != len(a.Data) || a.Shape == nil {
			t.Fatalf("shape %v for %d elements", a.Shape, len(a.Data))
		}
		var buf bytes.Buffer
		if err := Encode(&buf, a); err != nil {
			t.Fatalf("re-encoding an accepted array: %v", err)
		}
		b, err := Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("decoding the re-encoded array: %v", err)
		}
		sameArray(t, a, b)
		if typ.kind != 'f' || len(a.Shape) == 0 || len(a.Shape) > 2 {
			return
		}
		rows, cols := a.Shape[0], 1
		if len(a.Shape) == 2 {
			cols = a.Shape[1]
		}
		p := filepath.Join(t.TempDir(), "a.npy")
		if typ.size == 8 {
			err = Write(p, matrix.Dense[float64]{Rows: rows, Cols: cols, Data: a.Data})
		} else {
			f32 := make([]float32, len(a.Data))
			for i, v := range a.Data {
				f32[i] = float32(v)
			}
			err = Write(p, matrix.Dense[float32]{Rows: rows, Cols: cols, Data: f32})
		}
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		m, err := Read(p)
		if err != nil {
			t.Fatalf("Read after Write: %v", err)
		}
		if m.Rows != rows || m.Cols != cols {
			t.Fatalf("Read after Write: %dx%d, want %dx%d", m.Rows, m.Cols, rows, cols)
		}
		sameArray(t, a, Array{Shape: a.Shape, Data: m.Data, DType: a.DType})
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	})
}

// sameArray fails unless a and b have the same shape, dtype and element bits (NaNs of float32
// files compared as NaNs: the conversion to float64 may quiet a signalling one).
func sameArray(t *testing.T, a, b Array) {
	t.Helper()
	if a.DType != b.DType || len(a.Shape) != len(b.Shape) || len(a.Data) != len(b.Data) {
		t.Fatalf("%v %s (%d elements) became %v %s (%d elements)", a.Shape, a.DType, len(a.Data), b.Shape, b.DType, len(b.Data))
	}
	for i := range a.Shape {
		if a.Shape[i] != b.Shape[i] {
			t.Fatalf("shape %v became %v", a.Shape, b.Shape)
		}
	}
	for i, v := range a.Data {
		w := b.Data[i]
		if math.Float64bits(v) != math.Float64bits(w) && !(math.IsNaN(v) && math.IsNaN(w) && a.DType[2] == '4' && a.DType[1] == 'f') {
			t.Fatalf("element %d: %v (%#x) became %v (%#x)", i, v, math.Float64bits(v), w, math.Float64bits(w))
		}
	}
}
