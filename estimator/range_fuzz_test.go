package estimator

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/wtacrs/wtacrs/matrix"
)

// fuzzMatrices decodes X (n×m) and Y (m×q), n, m, q ≤ 4, from data: a shape byte, then one
// byte per entry choosing zero, a small integer or a binary exponent over float64's whole range
// (subnormals included), with a sign.
func fuzzMatrices(data []byte) (x, y matrix.Dense[float64], ok bool) {
	if len(data) < 2 {
		return x, y, false
	}
	n, m, q := int(data[0]&3)+1, int(data[0]>>2&3)+1, int(data[0]>>4&3)+1
	data = data[1:]
	entry := func(i int) float64 {
		if i >= len(data) {
			return 0
		}
		b := data[i]
		sign := 1.0
		if b&1 == 1 {
			sign = -1
		}
		switch v := int(b >> 1); {
		case v < 16:
			return 0
		case v < 48:
			return sign * float64(v-15)
		default: // exponents −1074 … 1023 in 80 steps
			e := -1074 + (v-48)*2097/79
			return sign * math.Ldexp(1.5, min(e, 1022))
		}
	}
	x, _ = matrix.NewDense[float64](n, m, nil)
	y, _ = matrix.NewDense[float64](m, q, nil)
	for i := range x.Data {
		x.Data[i] = entry(i)
	}
	for i := range y.Data {
		y.Data[i] = entry(len(x.Data) + i)
	}
	return x, y, true
}

// FuzzRangeProperties checks, over inputs spanning float64's whole range, that nothing panics,
// that a pair of nonzero column and row never gets weight zero, and that closed forms and
// sketches are finite or refused with ErrRange.
func FuzzRangeProperties(f *testing.F) {
	f.Add([]byte{0x3f, 200, 201, 40, 255, 0, 90, 33, 180, 181, 2, 254, 100})
	f.Add([]byte{0x15, 255, 255, 255, 255, 255, 255, 255, 255})
	f.Add([]byte{0x2a, 97, 97, 97, 97, 97, 97, 97, 97, 97, 97, 97, 97})
	seed := make([]byte, 40)
	binary.LittleEndian.PutUint64(seed, 0x0123456789abcdef)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		x, y, ok := fuzzMatrices(data)
		if !ok {
			return
		}
		w, err := Weights(x, y)
		if err != nil {
			if !errors.Is(err, ErrRange) {
				t.Fatalf("Weights: %v", err)
			}
			return
		}
		a, b := columnNorms(x), rowNorms(nil, y)
		for i, v := range w {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("weight %d = %v", i, v)
			}
			if (v > 0) != (a.v[i] > 0 && b.v[i] > 0) {
				t.Fatalf("weight %d = %v with norms %v, %v", i, v, a.at(i), b.at(i))
			}
		}
		for _, m := range Methods() {
			for _, k := range []int{1, 2, 5} {
				p, err := NewPlan(m, w, k, AutoC)
				if err != nil {
					if !errors.Is(err, ErrRange) {
						t.Fatalf("NewPlan(%v, %d): %v", m, k, err)
					}
					continue
				}
				for i, s := range p.Scales() {
					if math.IsNaN(s) || math.IsInf(s, 0) {
						t.Fatalf("%v, k = %d: scale %d = %v", m, k, i, s)
					}
				}
				cf, err := ClosedForm(x, y, p)
				switch {
				case errors.Is(err, ErrRange) || errors.Is(err, ErrNoClosedForm):
				case err != nil:
					t.Fatalf("ClosedForm(%v, %d): %v", m, k, err)
				default:
					for _, v := range []float64{cf.Variance, cf.SquaredBias, cf.ExpectedSquaredError()} {
						if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
							t.Fatalf("ClosedForm(%v, %d) = %+v", m, k, cf)
						}
					}
					if !allFinite(cf.Mean.Data) {
						t.Fatalf("ClosedForm(%v, %d): mean %v", m, k, cf.Mean.Data)
					}
				}
				s, merged := p.Sample(3, 1), p.SampleMerged(3, 1)
				if len(s.Index) != len(merged.Index) {
					t.Fatalf("%v, k = %d: Sample and SampleMerged differ", m, k)
				}
				for j := range s.Index {
					if s.Index[j] != merged.Index[j] || math.Float64bits(s.Scale[j]) != math.Float64bits(merged.Scale[j]) {
						t.Fatalf("%v, k = %d: Sample and SampleMerged differ", m, k)
					}
				}
				if _, err := Apply(x, y, s); err != nil && !errors.Is(err, ErrNonFinite) {
					t.Fatalf("Apply(%v, %d): %v", m, k, err)
				}
			}
		}
	})
}
