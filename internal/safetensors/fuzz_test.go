package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// FuzzRead decodes any bytes. It must never panic; an error must wrap ErrFormat; an accepted
// file must declare tensors whose data are contiguous and cover the buffer, and when all are
// F32 or F64 their data must read, re-encode, decode to the same tensors and metadata, and
// re-encode to the same bytes again. The seeds are the regression cases of the tests, files of
// our writer and the file of the independent writer.
func FuzzRead(f *testing.F) {
	for _, c := range malformedCases() {
		f.Add(c.in)
	}
	if ref, err := os.ReadFile(referenceFile); err == nil {
		f.Add(ref)
	}
	ts, meta := referenceTensors()
	f.Add(encode(f, ts, meta))
	f.Add(encode(f, nil, nil))
	f.Add(file(`{"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"i":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(file(`{"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":null}`, f32s(1)))
	f.Fuzz(func(t *testing.T, in []byte) {
		sf, err := NewReader(bytes.NewReader(in), int64(len(in)))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		h := sf.Header()
		var end int64
		readable := true
		for _, ti := range h.Tensors {
			if ti.Begin != end || ti.End-ti.Begin != int64(ti.Elements())*int64(ti.DType.Size()) || ti.Shape == nil {
				t.Fatalf("tensor %q: shape %v of %s at [%d, %d] after byte %d", ti.Name, ti.Shape, ti.DType, ti.Begin, ti.End, end)
			}
			end = ti.End
			readable = readable && (ti.DType == F32 || ti.DType == F64)
		}
		if want := int64(len(in)) - 8 - int64(binary.LittleEndian.Uint64(in)); end != want {
			t.Fatalf("the tensors cover %d bytes of %d", end, want)
		}
		ts, err := sf.Tensors()
		if !readable {
			if !errors.Is(err, ErrDType) {
				t.Fatalf("reading tensors of other dtypes: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("reading the tensors of an accepted file: %v", err)
		}
		var buf bytes.Buffer
		if err := Encode(&buf, ts, h.Metadata); err != nil {
			t.Fatalf("re-encoding an accepted file: %v", err)
		}
		again, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("decoding the re-encoded file: %v", err)
		}
		ts2, err := again.Tensors()
		if err != nil {
			t.Fatalf("reading the re-encoded file: %v", err)
		}
		sameTensors(t, ts, ts2)
		if m := again.Metadata(); len(m) != len(h.Metadata) {
			t.Fatalf("metadata %v became %v", h.Metadata, m)
		} else {
			for k, v := range h.Metadata {
				if m[k] != v {
					t.Fatalf("metadata %v became %v", h.Metadata, m)
				}
			}
		}
		if twice := encode(t, ts2, again.Metadata()); !bytes.Equal(twice, buf.Bytes()) {
			t.Fatalf("re-encoding is not stable:\n%q\n%q", buf.Bytes(), twice)
		}
	})
}
