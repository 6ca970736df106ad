package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/wtacrs/wtacrs/experiments"
)

func init() {
	register(command{name: "plot", summary: "redraw the figures of a results directory from its CSV files, or compare several", run: runPlot})
}

func runPlot(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs plot RESULTS_DIR\n       wtacrs plot -compare OUT_DIR [-label NAME]... RESULTS_DIR RESULTS_DIR...",
		"Redraws the PNG and SVG figures of RESULTS_DIR (a directory written by wtacrs run or\n"+
			"wtacrs analyze) from its curves.csv, layers.csv and training.csv.\n\n"+
			"With -compare, draws instead the figures that compare two or more results directories\n"+
			"(the top-10% mass and the share of |C| above the diagonal, against the step and at\n"+
			"matched training loss) into OUT_DIR, which must be absent or an earlier comparison.\n"+
			"Each -label names one RESULTS_DIR, in order (default: the directory's name).",
		"wtacrs plot results/fig10",
		"wtacrs plot -compare results/scratch-vs-pretrained -label \"from scratch\" -label pretrained results/fig10 results/fig10-pretrained")
	compare := fs.String("compare", "", "write the comparison figures of the RESULTS_DIRs into `OUT_DIR`")
	var labels []string
	fs.Func("label", "the `NAME` of the next RESULTS_DIR in the comparison figures (repeat per directory)", func(s string) error {
		if s == "" {
			return fmt.Errorf("an empty label")
		}
		labels = append(labels, s)
		return nil
	})
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	if *compare == "" {
		if len(labels) > 0 {
			fs.Usage()
			return errUsage("-label is for -compare")
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
	if len(pos) < 2 {
		fs.Usage()
		return errUsage(fmt.Sprintf("plot -compare needs two or more RESULTS_DIR arguments, got %d", len(pos)))
	}
	if len(labels) > len(pos) {
		fs.Usage()
		return errUsage(fmt.Sprintf("%d labels for %d RESULTS_DIR arguments", len(labels), len(pos)))
	}
	runs := make([]experiments.ComparisonRun, len(pos))
	for i, dir := range pos {
		runs[i] = experiments.ComparisonRun{Dir: dir, Label: filepath.Base(filepath.Clean(dir))}
		if i < len(labels) {
			runs[i].Label = labels[i]
		}
	}
	files, err := experiments.WriteComparison(*compare, runs)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, filepath.Join(*compare, f))
	}
	return nil
}
