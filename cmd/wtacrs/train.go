package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
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
	fs.Usage = usageFunc(fs, stderr, "wtacrs train [flags] [CONFIG.toml]",
		"Trains the encoder once and prints a summary (accuracy, throughput, memory). Without CONFIG\n"+
			"the default configuration is used (train.DefaultConfig). For the Table-1 comparison over\n"+
			"seeds and ratios see 'wtacrs help table'.",
		"wtacrs train",
		"wtacrs train -all wtacrs:0.3 -json r.json",
		"wtacrs train -seed 2 -epochs 1 train/testdata/wtacrs03.toml",
		"wtacrs train -init results/pretrain/model -pooling mean -all wtacrs:0.3")
	jsonOut := fs.String("json", "", "also write the result as JSON to this `FILE` (atomically)")
	all := fs.String("all", "", "override every layer kind: exact, or wtacrs:RATIO with RATIO in (0, 1]")
	seed := fs.Uint64("seed", 0, "override the configuration's seed (0 to 2^64-1)")
	epochs := fs.Int("epochs", 0, "override the configuration's number of epochs (>= 1)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	memLimit := memLimitFlag(fs)
	start := startFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	set := setFlags(fs)
	if set["epochs"] && *epochs < 1 {
		return errUsage(fmt.Sprintf("-epochs %d: want >= 1", *epochs))
	}
	cfg, err := trainConfig(pos, *all)
	if err != nil {
		return err
	}
	if cfg, err = start(cfg); err != nil {
		return err
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
	if *jsonOut != "" {
		if err := checkOutputFile(*jsonOut, append(pos, cfg.TrainPath, cfg.DevPath), isTrainJSON); err != nil {
			return err
		}
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	opt := train.Options{MemLimit: memLimit(), Progress: trainProgress(stderr, *quiet)}
	res, err := train.Run(ctx, cfg, opt)
	if err != nil {
		return interruptedErr(ctx, err, "")
	}
	if *jsonOut != "" {
		if err := train.WriteJSON(*jsonOut, res); err != nil {
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
	fmt.Fprintf(stdout, "attention products kept for backward: %.0f bytes/step; whole tape: %.0f bytes/step\n", res.AttentionBytes, res.TapeBytes)
	fmt.Fprintf(stdout, "trained parameters: %d\n", res.TrainableParams)
	return nil
}

// startFlags defines -init and -pooling, the checkpoint a fine-tuning starts from and the
// pooled row of the head, and returns the function that applies those given to a
// configuration. -init replaces the configuration's init (the checkpoint then fixes dim, heads,
// blocks, ffn_dim and vocab_size, whatever the file says).
func startFlags(fs *flag.FlagSet) func(train.Config) (train.Config, error) {
	init := fs.String("init", "", "fine-tune from the checkpoint `PATH` (NAME.safetensors with NAME.json beside it)")
	pooling := fs.String("pooling", "", "the row the classification head reads: cls or mean")
	return func(cfg train.Config) (train.Config, error) {
		set := setFlags(fs)
		if set["init"] {
			if *init == "" {
				return cfg, errUsage("-init '': want a checkpoint path")
			}
			abs, err := filepath.Abs(*init)
			if err != nil {
				return cfg, errUsage(fmt.Sprintf("-init %q: %v", *init, err))
			}
			cfg.Init = abs
			// The checkpoint's sizes replace the configuration's.
			cfg.Dim, cfg.Heads, cfg.Blocks, cfg.FFNDim, cfg.VocabSize = 0, 0, 0, 0, 0
		}
		if set["pooling"] {
			if *pooling != "cls" && *pooling != "mean" {
				return cfg, errUsage(fmt.Sprintf("-pooling %q: want cls or mean", *pooling))
			}
			cfg.Pooling = *pooling
		}
		return cfg, nil
	}
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// trainConfig loads the training configuration of wtacrs train and table: the default, or the
// one CONFIG argument, with -all applied.
func trainConfig(pos []string, all string) (train.Config, error) {
	cfg := train.DefaultConfig()
	switch len(pos) {
	case 0:
	case 1:
		var err error
		if cfg, err = train.LoadConfig(pos[0]); err != nil {
			return cfg, err
		}
	default:
		return cfg, errUsage(fmt.Sprintf("want at most one CONFIG, got %q", pos))
	}
	if all != "" {
		method, ratio, err := parseAll(all)
		if err != nil {
			return cfg, err
		}
		cfg = cfg.WithAll(method, ratio)
	}
	return cfg, nil
}

// trainProgress returns the progress lines of wtacrs train and table (nil when quiet).
func trainProgress(stderr io.Writer, quiet bool) func(train.Progress) {
	if quiet {
		return nil
	}
	return func(p train.Progress) {
		if p.EpochDone {
			fmt.Fprintf(stderr, "epoch %d done at step %d: dev accuracy %.4f %s\n", p.Epoch, p.Step, p.DevAccuracy, p.Elapsed.Round(1e9))
		} else if p.Step%50 == 0 {
			fmt.Fprintf(stderr, "step %d/%d epoch %d loss %.4f %s\n", p.Step, p.TotalSteps, p.Epoch, p.Loss, p.Elapsed.Round(1e9))
		}
	}
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

// parseRatios reads -ratios: comma-separated ratios in (0, 1].
func parseRatios(list string) ([]float64, error) {
	var ratios []float64
	for _, f := range strings.Split(list, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, errUsage(fmt.Sprintf("-ratios %q: %q is not a number", list, strings.TrimSpace(f)))
		}
		if !(r > 0 && r <= 1) {
			return nil, errUsage(fmt.Sprintf("-ratios %q: ratio %v, want in (0, 1]", list, r))
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
			return nil, errUsage(fmt.Sprintf("-seeds %q: %q is not a seed (an integer from 0 to 2^64-1)", seeds, strings.TrimSpace(f)))
		}
		ss = append(ss, s)
	}
	return ss, nil
}
