package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/train"
)

func init() {
	register(command{name: "train", summary: "train the encoder with exact or WTA-CRS backward; print a summary", run: runTrain})
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wtacrs train [flags] [CONFIG.toml]\n\nWithout CONFIG the default configuration is used (train.DefaultConfig).")
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "write the result as JSON to this file (atomically)")
	all := fs.String("all", "", "override every layer kind: exact, or wtacrs:RATIO")
	seed := fs.Int64("seed", -1, "override the seed (≥ 0)")
	epochs := fs.Int("epochs", 0, "override the number of epochs (≥ 1)")
	table := fs.String("table", "", "instead of one run, a Table-1-like comparison: exact and WTA-CRS at these comma-separated ratios, over the seeds of -seeds")
	seeds := fs.String("seeds", "1,2,3", "comma-separated seeds for -table")
	jobs := fs.Int("jobs", 1, "with -table, the number of runs trained concurrently")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	cfg := train.DefaultConfig()
	switch fs.NArg() {
	case 0:
	case 1:
		var err error
		if cfg, err = train.LoadConfig(fs.Arg(0)); err != nil {
			return err
		}
	default:
		return errUsage(fmt.Sprintf("want at most one CONFIG, got %q", fs.Args()))
	}
	if *all != "" {
		method, ratio, _ := strings.Cut(*all, ":")
		r := 0.0
		if method == train.MethodWTACRS {
			var err error
			if r, err = strconv.ParseFloat(ratio, 64); err != nil {
				return errUsage(fmt.Sprintf("-all %q: want exact or wtacrs:RATIO", *all))
			}
		} else if method != train.MethodExact || ratio != "" {
			return errUsage(fmt.Sprintf("-all %q: want exact or wtacrs:RATIO", *all))
		}
		cfg = cfg.WithAll(method, r)
	}
	if *seed >= 0 {
		cfg.Seed = uint64(*seed)
	}
	if *epochs != 0 {
		cfg.Epochs = *epochs
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opt := train.Options{}
	if !*quiet {
		opt.Progress = func(p train.Progress) {
			if p.EpochDone {
				fmt.Fprintf(stderr, "epoch %d done at step %d: dev accuracy %.4f %s\n", p.Epoch, p.Step, p.DevAccuracy, p.Elapsed.Round(1e9))
			} else if p.Step%50 == 0 {
				fmt.Fprintf(stderr, "step %d/%d epoch %d loss %.4f %s\n", p.Step, p.TotalSteps, p.Epoch, p.Loss, p.Elapsed.Round(1e9))
			}
		}
	}
	if *table != "" {
		var ratios []float64
		for _, f := range strings.Split(*table, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return errUsage(fmt.Sprintf("-table %q: %v", *table, err))
			}
			ratios = append(ratios, r)
		}
		var ss []uint64
		for _, f := range strings.Split(*seeds, ",") {
			s, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return errUsage(fmt.Sprintf("-seeds %q: %v", *seeds, err))
			}
			ss = append(ss, s)
		}
		rows, err := train.Table(ctx, cfg, ratios, ss, *jobs, opt, func(name string, s uint64, r *train.Result) {
			fmt.Fprintf(stderr, "%s seed %d: dev accuracy %.4f (majority %.4f) in %s\n", name, s, r.DevAccuracy, r.MajorityAccuracy, r.Elapsed.Round(1e9))
		})
		if err != nil {
			return err
		}
		if *out != "" {
			if err := train.WriteJSON(*out, rows); err != nil {
				return err
			}
		}
		return train.WriteTable(stdout, rows)
	}
	res, err := train.Run(ctx, cfg, opt)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := train.WriteJSON(*out, res); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "examples: %d train, %d dev\nsteps: %d\n", res.TrainExamples, res.DevExamples, res.Steps)
	for e, acc := range res.EpochDevAccuracy {
		fmt.Fprintf(stdout, "epoch %d: train loss %.4f, dev accuracy %.4f\n", e, res.EpochLoss[e], acc)
	}
	fmt.Fprintf(stdout, "dev accuracy: %.4f (majority class %.4f)\n", res.DevAccuracy, res.MajorityAccuracy)
	fmt.Fprintf(stdout, "tokens/s: %.0f (training time %s)\n", res.TokensPerSecond, res.TrainTime.Round(1e7))
	rel := 1.0
	if res.ExactBytes > 0 {
		rel = res.SavedBytes / res.ExactBytes
	}
	fmt.Fprintf(stdout, "linear-layer activations kept for backward: %.0f bytes/step (%.3f of exact)\n", res.SavedBytes, rel)
	return nil
}
