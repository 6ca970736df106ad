package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/wtacrs/wtacrs/train"
)

func init() {
	register(command{name: "table", summary: "Table-1-like comparison: exact against WTA-CRS at several ratios, over seeds", run: runTable})
}

func runTable(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs table [flags] [CONFIG.toml]",
		"Trains the configuration (default: train.DefaultConfig) with every layer exact and with every\n"+
			"layer kind on WTA-CRS at each ratio of -ratios, once per seed of -seeds, and prints the dev\n"+
			"accuracy (mean and standard deviation over seeds), memory and throughput per method.",
		"wtacrs table",
		"wtacrs table -ratios 0.3,0.1 -seeds 1,2,3 -jobs 2 -json table.json")
	ratios := fs.String("ratios", "0.3,0.1", "comma-separated WTA-CRS ratios in (0, 1]")
	seeds := fs.String("seeds", "1,2,3", "comma-separated seeds (0 to 2^64-1); each method trains once per seed")
	jobs := fs.Int("jobs", 1, "number of runs trained concurrently (>= 1); they share -mem-limit")
	epochs := fs.Int("epochs", 0, "override the configuration's number of epochs (>= 1)")
	jsonOut := fs.String("json", "", "also write the rows as JSON to this `FILE` (atomically)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	memLimit := memLimitFlag(fs)
	start := startFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	set := setFlags(fs)
	switch {
	case *jobs < 1:
		return errUsage(fmt.Sprintf("-jobs %d: want >= 1", *jobs))
	case set["epochs"] && *epochs < 1:
		return errUsage(fmt.Sprintf("-epochs %d: want >= 1", *epochs))
	}
	rs, err := parseRatios(*ratios)
	if err != nil {
		return err
	}
	ss, err := parseSeeds(*seeds)
	if err != nil {
		return err
	}
	cfg, err := trainConfig(pos, "")
	if err != nil {
		return err
	}
	if cfg, err = start(cfg); err != nil {
		return err
	}
	if set["epochs"] {
		cfg.Epochs = *epochs
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *jsonOut != "" {
		if err := checkOutputFile(*jsonOut, append(pos, cfg.TrainPath, cfg.DevPath), isTrainJSON); err != nil {
			return err
		}
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	opt := train.Options{MemLimit: memLimit(), Progress: trainProgress(stderr, *quiet)}
	rows, err := train.Table(ctx, cfg, rs, ss, *jobs, opt, func(name string, s uint64, r *train.Result) {
		if !*quiet {
			fmt.Fprintf(stderr, "%s seed %d: dev accuracy %.4f (majority %.4f) in %s\n", name, s, r.DevAccuracy, r.MajorityAccuracy, r.Elapsed.Round(1e9))
		}
	})
	if err != nil {
		return interruptedErr(ctx, err, "")
	}
	if *jsonOut != "" {
		if err := train.WriteJSON(*jsonOut, rows); err != nil {
			return err
		}
	}
	return train.WriteTable(stdout, rows)
}
