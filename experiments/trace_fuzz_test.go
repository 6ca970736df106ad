package experiments

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/wtacrs/wtacrs/internal/npyfile"
	"github.com/wtacrs/wtacrs/model"
)

// traceSeed is one step directory: the bit i of present says whether the i-th file of
// traceSeedFiles exists, with the bytes of files[i].
type traceSeed struct {
	present uint8
	files   [6][]byte
}

// traceSeedFiles are the file names of a step directory in the order of traceSeed.files.
var traceSeedFiles = [6]string{TraceHFile, TraceDZFile, TraceValidFile, TraceActNormsFile, TraceGradNormsFile, TraceCachedGradNormsFile}

// encodeNpy returns the .npy bytes of an array; it panics on an array Encode refuses, which
// the seeds below never are.
func encodeNpy(shape []int, dtype string, data ...float64) []byte {
	var b bytes.Buffer
	if err := npyfile.Encode(&b, npyfile.Array{Shape: shape, Data: data, DType: dtype}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// traceSeeds are complete and broken step directories: matrices, norms only, a mask, and
// files that are malformed, of the wrong dimensionality, length or dtype, or not finite.
func traceSeeds() []traceSeed {
	h := encodeNpy([]int{4, 3}, "<f4", 1, 0, 0, 0, 2, 0, 0, 0, 3, 0.5, 0.5, 0.5)
	dz := encodeNpy([]int{4, 2}, "<f8", 1, -1, 0.5, 2, 3, 0, 0.25, 0.25)
	valid := encodeNpy([]int{4}, "|b1", 1, 1, 1, 0)
	act := encodeNpy([]int{4}, "<f4", 1, 2, 3, 0.5)
	grad := encodeNpy([]int{4}, ">f8", 4, 1, 0.5, 2)
	ints := encodeNpy([]int{4}, "<i8", 1, 2, 3, 4)
	const all = 1<<6 - 1
	return []traceSeed{
		{all, [6][]byte{h, dz, valid, act, grad, grad}},
		{0b000011, [6][]byte{h, dz}},
		{0b000111, [6][]byte{h, dz, valid}},
		{0b011000, [6][]byte{3: act, 4: grad}},
		{0b111100, [6][]byte{2: valid, 3: act, 4: grad, 5: grad}},
		{0b101000, [6][]byte{3: act, 5: ints}},
		{0b011000, [6][]byte{3: encodeNpy([]int{0}, "<f8"), 4: encodeNpy([]int{0}, "<f8")}},
		{0b011000, [6][]byte{3: encodeNpy([]int{2}, "<f8", -1, 2), 4: encodeNpy([]int{2}, "<f8", 1, 1)}},
		{0b011000, [6][]byte{3: encodeNpy([]int{2}, "<f8", 0, 0), 4: encodeNpy([]int{2}, "<f8", 0, 0)}},
		{0b011000, [6][]byte{3: encodeNpy([]int{2}, "<f8", 1, math.NaN()), 4: encodeNpy([]int{2}, "<f8", 1, 1)}},
		{0b011000, [6][]byte{3: encodeNpy([]int{2}, "<f8", 1, math.Inf(1)), 4: encodeNpy([]int{2}, "<f8", 1, 1)}},
		{0b011000, [6][]byte{3: act, 4: encodeNpy([]int{3}, "<f8", 1, 2, 3)}},
		{0b011100, [6][]byte{2: encodeNpy([]int{3}, "|b1", 1, 1, 1), 3: act, 4: grad}},
		{0b011000, [6][]byte{3: encodeNpy([]int{2, 2}, "<f8", 1, 2, 3, 4), 4: grad}},
		{0b011000, [6][]byte{3: encodeNpy([]int{}, "<f8", 1), 4: grad}},
		{0b000011, [6][]byte{h, encodeNpy([]int{3, 2}, "<f8", 1, 2, 3, 4, 5, 6)}},
		{0b000011, [6][]byte{encodeNpy([]int{4}, "<f8", 1, 2, 3, 4), dz}},
		{0b000011, [6][]byte{encodeNpy([]int{4, 0}, "<f8"), encodeNpy([]int{4, 0}, "<f8")}},
		{0b000011, [6][]byte{encodeNpy([]int{4, 1, 1}, "<f8", 1, 2, 3, 4), dz}},
		{0b000011, [6][]byte{h[:len(h)-1], dz}},
		{0b000011, [6][]byte{h, append(dz[:len(dz):len(dz)], 0)}},
		{0b000011, [6][]byte{[]byte("hello"), dz}},
		{0b000011, [6][]byte{{}, dz}},
		{0b000001, [6][]byte{h}},
		{0b001000, [6][]byte{3: act}},
		{0, [6][]byte{}},
	}
}

// FuzzTraceStep writes fuzzed bytes as the files of one step directory and runs the step
// reader of AnalyzeTraces, then the collector on what it accepts. Neither may panic; the
// reader's errors must wrap ErrTrace, and what it accepts must be consistent (norms as long as
// the matrices have rows, a mask as long as the norms). testdata/fuzz/FuzzTraceStep holds the
// seeds.
func FuzzTraceStep(f *testing.F) {
	for _, s := range traceSeeds() {
		f.Add(s.present, s.files[0], s.files[1], s.files[2], s.files[3], s.files[4], s.files[5])
	}
	// One directory for every input: a fuzzing process runs its inputs one at a time, and the
	// files of the previous input are replaced or removed.
	dir := f.TempDir()
	cfg := DefaultConfig().Analysis
	cfg.Sources = []string{SourceExact, SourceCached}
	f.Fuzz(func(t *testing.T, present uint8, h, dz, valid, act, grad, cached []byte) {
		for i, b := range [6][]byte{h, dz, valid, act, grad, cached} {
			p := filepath.Join(dir, traceSeedFiles[i])
			if present&(1<<i) == 0 {
				if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				continue
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		o, hm, gm, err := readStep(dir, model.LayerID{Block: 0, Kind: model.Kind("q")}, 1)
		if err != nil {
			if !errors.Is(err, ErrTrace) {
				t.Fatalf("error does not wrap ErrTrace: %v", err)
			}
			return
		}
		n := len(o.ActNorms)
		if o.GradNorms == nil && o.CachedGradNorms == nil {
			t.Fatal("accepted without gradient norms")
		}
		if (o.GradNorms != nil && len(o.GradNorms) != n) || (o.CachedGradNorms != nil && len(o.CachedGradNorms) != n) || (o.Valid != nil && len(o.Valid) != n) {
			t.Fatalf("lengths: %d act, %d grad, %d cached, %d valid", n, len(o.GradNorms), len(o.CachedGradNorms), len(o.Valid))
		}
		for _, m := range [2]struct{ rows, cols, len int }{{hm.Rows, hm.Cols, len(hm.Data)}, {gm.Rows, gm.Cols, len(gm.Data)}} {
			if m.rows*m.cols != m.len || (m.len > 0 && m.rows != n) {
				t.Fatalf("matrix %dx%d with %d elements for %d tokens", m.rows, m.cols, m.len, n)
			}
		}
		col := NewCollector(cfg)
		_ = col.add(o, hm, gm) // errors are reported by AnalyzeTraces; a panic fails here
	})
}
