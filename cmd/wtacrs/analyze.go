package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/model"
)

func init() {
	register(command{name: "analyze", summary: "run the Figure 10-12 analyses on .npy traces (H, dZ per layer and step)", run: runAnalyze})
}

func runAnalyze(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs analyze [flags] TRACE_DIR",
		`Runs the Figure 10-12 analyses on tensors saved as .npy files (C order, any real or boolean
dtype), one directory per layer and step:
  TRACE_DIR/block<B>.<kind>/step<N>/H.npy        tokens x d_in   layer input H
  TRACE_DIR/block<B>.<kind>/step<N>/dZ.npy       tokens x d_out  output gradient dZ
  TRACE_DIR/block<B>.<kind>/step<N>/valid.npy    tokens, optional mask (non-zero = real token)
or, instead of H and dZ, the per-token norms act_norms.npy, grad_norms.npy and optionally
cached_grad_norms.npy (tokens). kind is q, k, v, o, ffn_in or ffn_out; tokens are pooled over
the batch. Outputs go to DIR/NAME/ as for wtacrs run (never into TRACE_DIR's own files).`,
		"wtacrs analyze traces/",
		"wtacrs analyze -out results -name t5-rte -budgets 0.1,0.5 -kinds q,k,v traces/")
	out := fs.String("out", "results", "parent `DIR` of the output directory")
	name := fs.String("name", "traces", "experiment name (the output subdirectory)")
	budgets := fs.String("budgets", "0.1,0.5", "comma-separated budget fractions k/|D| in (0, 1]")
	sources := fs.String("sources", "exact,cached", "gradient norms to analyse: exact and/or cached")
	kinds := fs.String("kinds", "q,k,v,o,ffn_in,ffn_out", "layer kinds to analyse")
	padding := fs.Bool("include-padding", false, "analyse padding tokens too (default: only tokens valid.npy marks)")
	memLimit := memLimitFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage(fmt.Sprintf("analyze needs exactly one TRACE_DIR argument, got %d", len(pos)))
	}
	if *name == "" {
		return errUsage("-name is empty: want the name of the output directory (default traces)")
	}
	a := experiments.DefaultConfig().Analysis
	a.Budgets = nil
	for _, s := range strings.Split(*budgets, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return errUsage(fmt.Sprintf("-budgets: %q is not a number", s))
		}
		a.Budgets = append(a.Budgets, v)
	}
	a.Sources = splitList(*sources)
	a.Kinds = nil
	for _, name := range splitList(*kinds) {
		k, err := model.ParseKind(name)
		if err != nil {
			return errUsage(fmt.Sprintf("-kinds: %v", err))
		}
		a.Kinds = append(a.Kinds, k)
	}
	a.IncludePadding = *padding
	ctx, stop := signalContext(stderr)
	defer stop()
	o, err := experiments.AnalyzeTraces(ctx, pos[0], experiments.TraceOptions{Out: *out, Name: *name, Analysis: a, MemLimit: memLimit()})
	if err != nil {
		return interruptedErr(ctx, err, "")
	}
	fmt.Fprintf(stdout, "analysed %d layer-step-source-budget combinations; wrote %s (see summary.md)\n", len(o.Records), o.Dir)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
