package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/train"
)

func init() {
	register(command{name: "run", summary: "run an experiment from a TOML config; write results/<name>/", run: runRun})
}

// experimentTrain trains one configuration for wtacrs run; tests replace it.
var experimentTrain experiments.TrainFunc = train.Run

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runRun(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs run [flags] CONFIG.toml",
		"Runs the experiment of CONFIG (every key: experiments/configs/reference.toml): trains, records\n"+
			"and analyses, and writes DIR/<name>/ (<name> is experiment.name, default the file's base\n"+
			"name). DIR/<name> must be absent or an earlier results directory of this experiment; it is\n"+
			"replaced atomically only when the run is complete.",
		"wtacrs run experiments/configs/quick.toml",
		"wtacrs run -out /tmp/res -mem-limit 4GiB experiments/configs/fig10.toml")
	out := fs.String("out", "results", "parent `DIR` of the experiment's output directory")
	memLimit := memLimitFlag(fs)
	jobs := fs.Int("jobs", 0, "train at most `N` seeds of the observed run (experiment.seeds) at once; 0: as many as the seeds, cores and memory allow")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	if *jobs < 0 {
		fs.Usage()
		return errUsage(fmt.Sprintf("-jobs %d: want 0 or more", *jobs))
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage(fmt.Sprintf("run needs exactly one CONFIG argument, got %d", len(pos)))
	}
	cfg, err := experiments.LoadConfig(pos[0])
	if err != nil {
		return err
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	bar := newProgressBar(stdout, isTerminal(stdout))
	o, err := experiments.Run(ctx, cfg, experiments.Options{Out: *out, Train: experimentTrain, Progress: bar.update,
		Inputs: pos, MemLimit: memLimit(), Jobs: *jobs})
	bar.done()
	if err != nil {
		return interruptedErr(ctx, err, fmt.Sprintf("earlier outputs in %s are left as they were", filepath.Join(*out, cfg.Experiment.Name)))
	}
	fmt.Fprintf(stdout, "wrote %s (%d files, %.1f s); see %s/summary.md\n", o.Dir, len(o.Manifest.Files), o.Manifest.WallSeconds, o.Dir)
	return nil
}

// progressBar shows training progress: a redrawn bar on a terminal, otherwise a plain line about
// every 5% of a run's steps.
type progressBar struct {
	w    io.Writer
	tty  bool
	open bool // a bar line is on screen
}

func newProgressBar(w io.Writer, tty bool) *progressBar { return &progressBar{w: w, tty: tty} }

func (b *progressBar) update(run string, p train.Progress) {
	eta := time.Duration(0)
	if p.Step > 0 {
		eta = time.Duration(float64(p.Elapsed) / float64(p.Step) * float64(p.TotalSteps-p.Step))
	}
	if !b.tty {
		every := max(1, p.TotalSteps/20)
		if p.Step == 1 || p.Step%every == 0 || p.Step == p.TotalSteps {
			fmt.Fprintf(b.w, "%s: step %d/%d epoch %d loss %.4f elapsed %s eta %s\n", run, p.Step, p.TotalSteps, p.Epoch+1,
				p.Loss, p.Elapsed.Round(time.Second), eta.Round(time.Second))
		}
		return
	}
	const width = 30
	fill := 0
	if p.TotalSteps > 0 {
		fill = min(width, width*p.Step/p.TotalSteps)
	}
	fmt.Fprintf(b.w, "\r%-8s [%s%s] step %d/%d epoch %d loss %.4f ETA %s   ", run, strings.Repeat("#", fill),
		strings.Repeat(".", width-fill), p.Step, p.TotalSteps, p.Epoch+1, p.Loss, eta.Round(time.Second))
	b.open = true
	if p.Step == p.TotalSteps {
		fmt.Fprintln(b.w)
		b.open = false
	}
}

func (b *progressBar) done() {
	if b.open {
		fmt.Fprintln(b.w)
		b.open = false
	}
}
