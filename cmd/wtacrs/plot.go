package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/wtacrs/wtacrs/experiments"
)

func init() {
	register(command{name: "plot", summary: "redraw the figures of a results directory from its CSV files", run: runPlot})
}

func runPlot(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs plot RESULTS_DIR",
		"Redraws the PNG and SVG figures of RESULTS_DIR (a directory written by wtacrs run or\n"+
			"wtacrs analyze) from its curves.csv, layers.csv and training.csv.",
		"wtacrs plot results/fig10")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage("plot needs exactly one RESULTS_DIR argument")
	}
	figs, err := experiments.ReplotResults(pos[0])
	if err != nil {
		return err
	}
	for _, f := range figs {
		fmt.Fprintln(stdout, f)
	}
	return nil
}
