package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
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
	all := fs.String("all", "", "override every layer kind: exact, or wtacrs:RATIO with RATIO in (0, 1]")
	seed := fs.Uint64("seed", 0, "override the configuration's seed (0 to 2^64-1; not with -table, which takes -seeds)")
	epochs := fs.Int("epochs", 0, "override the configuration's number of epochs (≥ 1)")
	table := fs.String("table", "", "instead of one run, a Table-1-like comparison: exact and WTA-CRS at these comma-separated ratios in (0, 1], over the seeds of -seeds")
	seeds := fs.String("seeds", "1,2,3", "comma-separated seeds for -table")
	jobs := fs.Int("jobs", 1, "with -table, the number of runs trained concurrently (≥ 1)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	memLimit := memLimitFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkTrainFlags(set, *table, *epochs, *jobs); err != nil {
		return err
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
		method, ratio, err := parseAll(*all)
		if err != nil {
			return err
		}
		cfg = cfg.WithAll(method, ratio)
	}
	if set["seed"] {
		cfg.Seed = *seed
	}
	if set["epochs"] {
		cfg.Epochs = *epochs
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *out != "" {
		if err := checkOutputFile(*out, []string{fs.Arg(0), cfg.TrainPath, cfg.DevPath}, isTrainJSON); err != nil {
			return err
		}
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	opt := train.Options{MemLimit: memLimit()}
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
		ratios, err := parseRatios(*table)
		if err != nil {
			return err
		}
		ss, err := parseSeeds(*seeds)
		if err != nil {
			return err
		}
		rows, err := train.Table(ctx, cfg, ratios, ss, *jobs, opt, func(name string, s uint64, r *train.Result) {
			fmt.Fprintf(stderr, "%s seed %d: dev accuracy %.4f (majority %.4f) in %s\n", name, s, r.DevAccuracy, r.MajorityAccuracy, r.Elapsed.Round(1e9))
		})
		if err != nil {
			return interruptedErr(ctx, err, "")
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
		return interruptedErr(ctx, err, "")
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

// isTrainJSON reports whether b is a result wtacrs train -out wrote: a train.Result object or a
// list of train.TableRow objects.
func isTrainJSON(b []byte) bool {
	var one map[string]json.RawMessage
	if json.Unmarshal(b, &one) == nil {
		_, c := one["Config"]
		_, a := one["DevAccuracy"]
		return c && a
	}
	var rows []map[string]json.RawMessage
	if json.Unmarshal(b, &rows) != nil || len(rows) == 0 {
		return false
	}
	for _, r := range rows {
		_, n := r["Name"]
		_, a := r["Accuracies"]
		if !n || !a {
			return false
		}
	}
	return true
}

// checkTrainFlags refuses flags out of range and flags that would be ignored: -seeds and -jobs
// without -table, -seed with it (each run of the table takes its seed from -seeds).
func checkTrainFlags(set map[string]bool, table string, epochs, jobs int) error {
	switch {
	case set["epochs"] && epochs < 1:
		return errUsage(fmt.Sprintf("-epochs %d: want ≥ 1", epochs))
	case jobs < 1:
		return errUsage(fmt.Sprintf("-jobs %d: want ≥ 1", jobs))
	case table == "" && set["seeds"]:
		return errUsage("-seeds without -table: the seeds of a single run are set with -seed")
	case table == "" && set["jobs"]:
		return errUsage("-jobs without -table: a single run trains one model")
	case table != "" && set["seed"]:
		return errUsage("-seed with -table: the table's runs take their seeds from -seeds")
	}
	return nil
}

// parseAll reads -all: exact, or wtacrs:RATIO with RATIO in (0, 1].
func parseAll(all string) (method string, ratio float64, err error) {
	method, r, _ := strings.Cut(all, ":")
	switch {
	case method == train.MethodExact && r == "" && !strings.Contains(all, ":"):
		return method, 0, nil
	case method == train.MethodWTACRS:
		ratio, err := strconv.ParseFloat(r, 64)
		if err != nil || !(ratio > 0 && ratio <= 1) {
			return "", 0, errUsage(fmt.Sprintf("-all %q: want exact or wtacrs:RATIO with the ratio in (0, 1]", all))
		}
		return method, ratio, nil
	}
	return "", 0, errUsage(fmt.Sprintf("-all %q: want exact or wtacrs:RATIO", all))
}

// parseRatios reads -table: comma-separated ratios in (0, 1].
func parseRatios(table string) ([]float64, error) {
	var ratios []float64
	for _, f := range strings.Split(table, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, errUsage(fmt.Sprintf("-table %q: %v", table, err))
		}
		if !(r > 0 && r <= 1) {
			return nil, errUsage(fmt.Sprintf("-table %q: ratio %v, want in (0, 1]", table, r))
		}
		ratios = append(ratios, r)
	}
	return ratios, nil
}

// parseSeeds reads -seeds: comma-separated seeds in [0, 2^64).
func parseSeeds(seeds string) ([]uint64, error) {
	var ss []uint64
	for _, f := range strings.Split(seeds, ",") {
		s, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, errUsage(fmt.Sprintf("-seeds %q: %v", seeds, err))
		}
		ss = append(ss, s)
	}
	return ss, nil
}
