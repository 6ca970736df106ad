package sweep_test

import (
	"fmt"
	"strings"

	"github.com/wtacrs/wtacrs/sweep"
)

// A sweep over two methods, two learning rates and two seeds expands into eight jobs, each a
// complete experiment configuration; the jobs that differ only in their seed form a variant.
func ExampleParse() {
	text := `
[sweep]
name = "lr"

[axes]
seeds = [1, 2]
methods = ["exact", "wtacrs:0.3"]

[[axes.set]]
key = "train.learning_rate"
values = [5e-4, 1e-3]
labels = ["lr 5e-4", "lr 1e-3"]

[analysis]
enabled = false

[train]
epochs = 1
`
	s, err := sweep.Parse([]byte(text), "lr.toml", "lr", ".")
	if err != nil {
		fmt.Println(err)
		return
	}
	jobs, err := s.Jobs("sweeps/lr")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d jobs over %s\n", len(jobs), strings.Join(s.Axes(), ", "))
	for _, v := range s.Variants() {
		var seeds []string
		for _, seed := range s.Seeds {
			for _, j := range jobs {
				if j.Variant == v && j.Seed == seed {
					c := j.Config.Train
					seeds = append(seeds, fmt.Sprintf("seed %d (q: %s %g, lr %g, %d hex digits)", j.Seed, c.Layers["q"].Method, c.Layers["q"].Ratio, c.LearningRate, len(j.Hash)))
				}
			}
		}
		fmt.Printf("%s: %s\n", v, strings.Join(seeds, "; "))
	}
	// Output:
	// 8 jobs over method, train.learning_rate, seed
	// exact, lr 5e-4: seed 1 (q: exact 0, lr 0.0005, 16 hex digits); seed 2 (q: exact 0, lr 0.0005, 16 hex digits)
	// exact, lr 1e-3: seed 1 (q: exact 0, lr 0.001, 16 hex digits); seed 2 (q: exact 0, lr 0.001, 16 hex digits)
	// WTA-CRS@0.3, lr 5e-4: seed 1 (q: wtacrs 0.3, lr 0.0005, 16 hex digits); seed 2 (q: wtacrs 0.3, lr 0.0005, 16 hex digits)
	// WTA-CRS@0.3, lr 1e-3: seed 1 (q: wtacrs 0.3, lr 0.001, 16 hex digits); seed 2 (q: wtacrs 0.3, lr 0.001, 16 hex digits)
}
