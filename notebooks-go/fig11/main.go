// Command fig11 redraws Figure 11 of the paper (P_C against |C|/k at k = 0.5|D| for the query,
// key and value layers) from the results of experiments/configs/fig11.toml, running it first when
// they are missing, and writes results/notebooks/fig11/report.md.
//
//	go run ./notebooks-go/fig11 [-rerun] [-results DIR] [-out DIR]
package main

import "github.com/wtacrs/wtacrs/notebooks-go/internal/nb"

func main() { nb.Main(func() error { return nb.Curves("fig11", "fig11", 11, 0.5) }) }
