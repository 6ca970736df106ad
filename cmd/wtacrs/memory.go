package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

func init() {
	register(command{name: "memory", summary: "measure the memory of one training step, by what holds it", run: runMemory})
}

// memoryHeader is the first row of the CSV that wtacrs memory writes; every size is in bytes.
var memoryHeader = func() []string {
	h := []string{"batch", "seq_len", "parameters", "gradients", "optimizer"}
	for _, k := range model.Kinds() {
		h = append(h, "saved_"+string(k))
	}
	return append(h, "saved_attention", "saved_other", "workspace", "total", "peak_heap", "peak_rss")
}()

func runMemory(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs memory [flags] [CONFIG.toml]",
		"Runs one training step of the configuration (default: train.DefaultConfig) on a batch of\n"+
			"random sequences of max_len valid tokens and prints its memory in MiB: the parameters,\n"+
			"their gradients, AdamW's moments, the activations kept for backward by layer kind\n"+
			"(a tensor shared by several layers counted once, under the first), by the attention\n"+
			"products and by the rest (LayerNorm, head), and the workspace of forward and backward.\n"+
			"The workspace is measured: the live heap after a full garbage collection at every layer,\n"+
			"less what the rest accounts for (a lower bound: a peak between two layers is not seen).\n"+
			"The figures are live heap, not RSS; the last column is the process's peak resident set\n"+
			"during the step (Linux; 0 elsewhere), which also holds freed memory not yet returned to\n"+
			"the system, the runtime and the BLAS library's buffers. -csv writes the same in bytes,\n"+
			"one row per batch size.",
		"wtacrs memory -all wtacrs:0.3 -optimizer-precision model",
		"wtacrs memory -batch 16,32,64,128 -budget 512MiB -csv mem.csv experiments/configs/fig13/exact.toml")
	all := fs.String("all", "", "override every layer kind: exact, or wtacrs:RATIO with RATIO in (0, 1]")
	batches := fs.String("batch", "", "comma-separated batch `SIZES` to measure (default: the configuration's batch_size)")
	moments := fs.String("optimizer-precision", "", "override optimizer_precision: float64 or model")
	budget := fs.String("budget", "", "also print the largest measured batch whose step total fits in `SIZE` bytes (512MiB, 2GiB, 1e9)")
	csvOut := fs.String("csv", "", "also write the measurements as CSV to this `FILE` (atomically)")
	memLimit := memLimitFlag(fs)
	start := startFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, err := trainConfig(pos, *all)
	if err != nil {
		return err
	}
	if cfg, err = start(cfg); err != nil {
		return err
	}
	if *moments != "" {
		if *moments != train.OptimizerFloat64 && *moments != train.OptimizerModel {
			return errUsage(fmt.Sprintf("-optimizer-precision %q: want float64 or model", *moments))
		}
		cfg.OptimizerPrecision = *moments
	}
	sizes := []int{cfg.BatchSize}
	if *batches != "" {
		if sizes, err = parseBatches(*batches); err != nil {
			return err
		}
	}
	var limit uint64
	if *budget != "" {
		if limit, err = memlimit.ParseSize(*budget); err != nil || limit == 0 || limit == memlimit.Unlimited {
			return errUsage(fmt.Sprintf("-budget %q: want a positive size such as 512MiB", *budget))
		}
	}
	for _, b := range sizes {
		c := cfg
		c.BatchSize = b
		if err := c.Validate(); err != nil {
			return err
		}
	}
	if *csvOut != "" {
		if err := checkOutputFile(*csvOut, pos, isMemoryCSV); err != nil {
			return err
		}
	}
	ml := memLimit()
	rows := [][]string{memoryHeader}
	fmt.Fprintf(stdout, "%6s %6s %10s %10s %10s", "batch", "seq", "params", "grads", "optimizer")
	for _, k := range model.Kinds() {
		fmt.Fprintf(stdout, " %8s", k)
	}
	fmt.Fprintf(stdout, " %9s %8s %10s %10s %9s   (MiB)\n", "attention", "other", "workspace", "total", "peak RSS")
	best := 0
	for _, b := range sizes {
		c := cfg
		c.BatchSize = b
		m, err := train.MeasureStep(c, ml)
		if err != nil {
			return err
		}
		mib := func(v int) string { return strconv.FormatFloat(float64(v)/(1<<20), 'f', 2, 64) }
		fmt.Fprintf(stdout, "%6d %6d %10s %10s %10s", m.Batch, m.SeqLen, mib(m.Parameters), mib(m.Gradients), mib(m.Optimizer))
		for _, v := range m.Saved.Linear {
			fmt.Fprintf(stdout, " %8s", mib(v))
		}
		fmt.Fprintf(stdout, " %9s %8s %10s %10s %9s\n", mib(m.Saved.Attention), mib(m.Saved.Other), mib(m.Workspace), mib(m.Total()), mib(int(m.PeakRSS)))
		rows = append(rows, memoryRow(m))
		if limit > 0 && uint64(m.Total()) <= limit {
			best = max(best, b)
		}
	}
	if limit > 0 {
		if best == 0 {
			fmt.Fprintf(stdout, "no measured batch fits in %s\n", memlimit.Format(limit))
		} else {
			fmt.Fprintf(stdout, "largest measured batch within %s: %d\n", memlimit.Format(limit), best)
		}
	}
	if *csvOut != "" {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		if err := w.WriteAll(rows); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(*csvOut, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// memoryRow returns the CSV row of one measurement, in the order of memoryHeader.
func memoryRow(m train.StepMemory) []string {
	vals := []int{m.Batch, m.SeqLen, m.Parameters, m.Gradients, m.Optimizer}
	vals = append(vals, m.Saved.Linear[:]...)
	vals = append(vals, m.Saved.Attention, m.Saved.Other, m.Workspace, m.Total())
	row := make([]string, 0, len(vals)+1)
	for _, v := range vals {
		row = append(row, strconv.Itoa(v))
	}
	return append(row, strconv.FormatUint(m.PeakHeap, 10), strconv.FormatUint(m.PeakRSS, 10))
}

// parseBatches reads -batch: positive integers separated by commas.
func parseBatches(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || b < 1 {
			return nil, errUsage(fmt.Sprintf("-batch %q: want positive integers separated by commas", s))
		}
		out = append(out, b)
	}
	return out, nil
}

// isMemoryCSV reports whether b is a CSV that wtacrs memory wrote (its header row).
func isMemoryCSV(b []byte) bool {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(bytes.TrimSpace(line)) == strings.Join(memoryHeader, ",")
}
