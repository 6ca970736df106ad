//go:build ignore

// Command gen writes the bundled example of wtacrs estimate: X (64×512) and Y (512×32), float32,
// the shapes of a weight gradient Hᵀ∇Z over 512 tokens. Token norms are log-normal (σ = 1.5) and
// one token in four is padding (exactly zero), as in a padded fine-tuning batch.
//
//	go run testdata/example/gen.go
package main

import (
	"log"
	"math"

	"github.com/wtacrs/wtacrs/internal/npyfile"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/philox"
)

func main() {
	const n, m, q, seed = 64, 512, 32, 2023
	var counter uint64
	normal := func() float64 {
		u1, u2 := philox.Uniform(seed, 0, counter), philox.Uniform(seed, 0, counter+1)
		counter += 2
		return math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
	}
	x, _ := matrix.NewDense[float32](n, m, nil)
	y, _ := matrix.NewDense[float32](m, q, nil)
	for t := 0; t < m; t++ {
		if t%4 == 3 {
			continue
		}
		a, b := math.Exp(1.5*normal()), math.Exp(normal())
		for i := 0; i < n; i++ {
			x.Data[i*m+t] = float32(a * normal())
		}
		for j := 0; j < q; j++ {
			y.Data[t*q+j] = float32(b * normal())
		}
	}
	for name, d := range map[string]matrix.Dense[float32]{"testdata/example/X.npy": x, "testdata/example/Y.npy": y} {
		if err := npyfile.Write(name, d); err != nil {
			log.Fatal(err)
		}
	}
}
