package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/train"
)

func init() {
	register(command{name: "pretrain", summary: "pretrain the encoder (masked language model); write a checkpoint in DIR/<name>/", run: runPretrain})
}

func runPretrain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs pretrain [flags] CONFIG.toml",
		"Pretrains the encoder with the masked-language-model objective on the corpus of CONFIG (every\n"+
			"key: train.PretrainConfig; the bundled corpus by default) and writes DIR/<name>/ (<name>: the\n"+
			"file's base name): the checkpoint model.safetensors with model.json, the losses, a figure and\n"+
			"summary.md. Every checkpoint_every steps, and when interrupted, the training state is saved to\n"+
			"DIR/<name>.state.safetensors; -resume continues from it to the same final weights, bit for bit.",
		"wtacrs pretrain experiments/configs/pretrain.toml",
		"wtacrs pretrain -resume experiments/configs/pretrain.toml",
		"wtacrs pretrain -out /tmp/ckpt -name small experiments/configs/pretrain.toml")
	out := fs.String("out", "results", "parent `DIR` of the output directory")
	name := fs.String("name", "", "the output directory's `NAME` (default: CONFIG's base name)")
	resume := fs.Bool("resume", false, "continue the interrupted run from DIR/<name>.state.safetensors")
	memLimit := memLimitFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage(fmt.Sprintf("pretrain needs exactly one CONFIG argument, got %d", len(pos)))
	}
	if setFlags(fs)["name"] && *name == "" {
		return errUsage("-name '': want a directory name")
	}
	cfg, err := train.LoadPretrainConfig(pos[0])
	if err != nil {
		return err
	}
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(pos[0]), filepath.Ext(pos[0]))
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	bar := newProgressBar(stdout, isTerminal(stdout))
	o, err := experiments.Pretrain(ctx, cfg, *name, experiments.PretrainOptions{Out: *out, Resume: *resume, Inputs: pos,
		MemLimit: memLimit(), Progress: func(p train.Progress) { bar.update("pretrain", p) }})
	bar.done()
	if err != nil {
		return interruptedErr(ctx, err, fmt.Sprintf("the state to resume from is in %s.safetensors", experiments.StatePath(*out, *name)))
	}
	last := o.Result.Evals[len(o.Result.Evals)-1]
	fmt.Fprintf(stdout, "wrote %s (%d files, %.1f s): dev MLM loss %.4f, accuracy %.4f (unigram baseline %.4f, %.4f); checkpoint %s.safetensors\n",
		o.Dir, len(o.Manifest.Files), o.Manifest.WallSeconds, last.Loss, last.Accuracy, o.Result.Baseline.Loss, o.Result.Baseline.Accuracy, o.Checkpoint)
	return nil
}
