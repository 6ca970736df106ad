// Command fig10 redraws Figure 10 of the paper (P_C against |C|/k at k = 0.1|D| for the query,
// key and value layers) from the results of experiments/configs/fig10.toml, running it first when
// they are missing, and writes results/notebooks/fig10/report.md.
//
//	go run ./notebooks-go/fig10 [-rerun] [-results DIR] [-out DIR]
package main

import "github.com/wtacrs/wtacrs/notebooks-go/internal/nb"

func main() { nb.Main(func() error { return nb.Curves("fig10", "fig10", 10, 0.1) }) }
