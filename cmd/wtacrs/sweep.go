package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/sweep"
	"github.com/wtacrs/wtacrs/train"
)

func init() {
	register(command{name: "sweep", summary: "run a grid of experiments locally or as a Slurm job array; merge it over seeds", run: runSweep})
}

// sweepTrain trains one job of a sweep; tests replace it.
var sweepTrain experiments.TrainFunc = train.Run

func runSweep(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "run-job":
			return runSweepJob(args[1:], stdout, stderr)
		case "merge":
			return runSweepMerge(args[1:], stdout, stderr)
		case "status":
			return runSweepStatus(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs sweep [flags] SWEEP.toml|DIR\n       wtacrs sweep status DIR\n       wtacrs sweep merge [-partial] DIR\n       wtacrs sweep run-job [-mem-limit SIZE] DIR HASH|-task N DIR",
		"Expands the sweep file (a base experiment configuration plus [axes]: seeds, methods, kinds and\n"+
			"[[axes.set]] keys; see experiments/sweeps/example.toml) into jobs, one training each, in the\n"+
			"sweep folder DIR = -out/<name>: DIR/jobs/<hash>/ holds a job's config.toml (its SHA-256 gives\n"+
			"the hash), its results and job.json once done. Then it runs the jobs not done locally, -jobs at\n"+
			"once, and merges them into DIR/merged/: per metric a table of each variant's mean and 95% t\n"+
			"interval over the seeds (CSV and Markdown), figures with seed bands. Run again, it skips the\n"+
			"jobs done and reruns the interrupted and failed ones. A sweep folder DIR in place of the file\n"+
			"runs (or submits) the jobs it lists.\n\n"+
			"With -slurm it writes DIR/sweep.sbatch instead, an sbatch job array of one task per job, each\n"+
			"running 'wtacrs sweep run-job DIR HASH' (the local path's job runner); -submit submits the tasks\n"+
			"of the jobs not done (-failed: of the failed ones alone). 'wtacrs sweep status DIR' lists the\n"+
			"jobs done, running and failed (with their logs) and the ETA; 'wtacrs sweep merge DIR' merges.",
		"wtacrs sweep -jobs 2 experiments/sweeps/example.toml",
		"wtacrs sweep -list experiments/sweeps/accuracy-pretrained.toml",
		"go build -o wtacrs ./cmd/wtacrs && ./wtacrs sweep -slurm -submit -partition short experiments/sweeps/example.toml",
		"wtacrs sweep status sweeps/example",
		"wtacrs sweep -slurm -submit -failed sweeps/example",
		"wtacrs sweep merge sweeps/example")
	out := fs.String("out", "sweeps", "parent `DIR` of the sweep folder DIR/<name>")
	jobs := fs.Int("jobs", 1, "run at most `N` jobs at once (they share -mem-limit)")
	list := fs.Bool("list", false, "print the jobs (index, hash, variant, seed) and write nothing")
	noMerge := fs.Bool("no-merge", false, "do not merge after a local run")
	slurm := fs.Bool("slurm", false, "write the Slurm job-array script DIR/sweep.sbatch instead of running the jobs")
	submit := fs.Bool("submit", false, "with -slurm: submit the tasks of the jobs not done with sbatch")
	failedOnly := fs.Bool("failed", false, "with -submit: submit the tasks of the failed jobs alone")
	bin := fs.String("bin", "", "with -slurm: the wtacrs `PROGRAM` the tasks run (default: this one; go run's is temporary)")
	cpus := fs.Int("cpus", 0, "with -slurm: `N` CPUs per task (default: sweep.slurm.cpus)")
	mem := fs.String("mem", "", "with -slurm: the memory of a task, `SIZE` such as 4G (default: sweep.slurm.memory)")
	limit := fs.String("time", "", "with -slurm: the time limit of a task, `LIMIT` such as 02:00:00 (default: sweep.slurm.time)")
	partition := fs.String("partition", "", "with -slurm: the partition `NAME` (default: sweep.slurm.partition)")
	throttle := fs.Int("throttle", 0, "with -slurm: at most `N` tasks running at once, 0 no limit (default: sweep.slurm.throttle)")
	memLimit := memLimitFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	set := setFlags(fs)
	switch {
	case len(pos) != 1:
		fs.Usage()
		return errUsage(fmt.Sprintf("sweep needs exactly one SWEEP.toml or sweep folder, got %d arguments", len(pos)))
	case *jobs < 1:
		return errUsage(fmt.Sprintf("-jobs %d: want >= 1", *jobs))
	case (*submit || set["bin"] || set["cpus"] || set["mem"] || set["time"] || set["partition"] || set["throttle"]) && !*slurm:
		return errUsage("-submit, -bin, -cpus, -mem, -time, -partition and -throttle go with -slurm")
	case *failedOnly && !*submit:
		return errUsage("-failed goes with -submit")
	case *slurm && (set["jobs"] || *noMerge):
		return errUsage("-jobs and -no-merge are for a local run, not with -slurm")
	}
	dir, idx, err := sweepFolder(pos[0], *out, *list, stdout)
	if err != nil || idx == nil {
		return err
	}
	if *slurm {
		res := idx.Slurm
		if set["cpus"] {
			res.CPUs = *cpus
		}
		if set["mem"] {
			res.Memory = *mem
		}
		if set["time"] {
			res.Time = *limit
		}
		if set["partition"] {
			res.Partition = *partition
		}
		if set["throttle"] {
			res.Throttle = *throttle
		}
		return sweepSlurm(dir, idx, *bin, res, *submit, *failedOnly, stdout)
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	status := sweep.Status(dir, idx)
	c := count(status)
	fmt.Fprintf(stdout, "sweep %s: %d jobs in %s (%s); running %d at once\n", idx.Sweep, len(idx.Jobs), dir, c, *jobs)
	start := time.Now()
	counts, err := sweep.RunLocal(ctx, dir, sweep.LocalOptions{Jobs: *jobs, MemLimit: memLimit(), Train: sweepTrain,
		Progress: sweepProgress(stdout, len(idx.Jobs))})
	if err != nil {
		return interruptedErr(ctx, err, fmt.Sprintf("the jobs done are kept in %s; run again to resume", dir))
	}
	fmt.Fprintf(stdout, "sweep %s: %s in %s\n", idx.Sweep, counts, time.Since(start).Round(time.Second))
	if *noMerge {
		return nil
	}
	return mergeAndReport(dir, false, stdout)
}

// sweepFolder prepares the sweep folder of a sweep file (or reads an existing folder) and
// returns it with its index; with list it prints the jobs instead and returns a nil index.
func sweepFolder(arg, out string, list bool, stdout io.Writer) (string, *sweep.Index, error) {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		idx, err := sweep.ReadIndex(arg)
		if err != nil {
			return "", nil, err
		}
		if list {
			printJobs(stdout, idx)
			return "", nil, nil
		}
		return arg, idx, nil
	}
	s, err := sweep.Load(arg)
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(out, s.Name)
	if list {
		jobs, err := s.Jobs(dir)
		if err != nil {
			return "", nil, err
		}
		idx := &sweep.Index{Sweep: s.Name, Axes: s.Axes()}
		for _, j := range jobs {
			idx.Jobs = append(idx.Jobs, sweep.IndexJob{Index: j.Index, Hash: j.Hash, Variant: j.Variant, Seed: j.Seed, Values: j.Values})
		}
		printJobs(stdout, idx)
		return "", nil, nil
	}
	idx, _, err := sweep.Prepare(s, dir)
	if err != nil {
		return "", nil, err
	}
	return dir, idx, nil
}

func printJobs(w io.Writer, idx *sweep.Index) {
	fmt.Fprintf(w, "sweep %s: %d jobs; axes: %s\n", idx.Sweep, len(idx.Jobs), strings.Join(idx.Axes, ", "))
	for _, j := range idx.Jobs {
		fmt.Fprintf(w, "%4d  %s  %s  seed %d\n", j.Index, j.Hash, j.Variant, j.Seed)
	}
}

// sweepSlurm writes the job-array script and, with submit, submits the tasks of the jobs not
// done (or failed).
func sweepSlurm(dir string, idx *sweep.Index, bin string, res sweep.Slurm, submit, failedOnly bool, stdout io.Writer) error {
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("the path of this program is unknown (%v); give -bin", err)
		}
		if strings.Contains(exe, string(filepath.Separator)+"go-build") {
			return errUsage(fmt.Sprintf("this program is go run's temporary build %s, gone when it exits: go build -o wtacrs ./cmd/wtacrs and run that, or give -bin", exe))
		}
		bin = exe
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return errUsage(fmt.Sprintf("-bin %q: %v", bin, err))
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return errUsage(fmt.Sprintf("-bin %q: not an executable program", bin))
	}
	script, err := sweep.WriteScript(dir, idx, abs, res)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d array tasks; logs in %s)\n", script, len(idx.Jobs), filepath.Join(filepath.Dir(script), sweep.LogsDir))
	if !submit {
		fmt.Fprintf(stdout, "submit with: sbatch %s   (or wtacrs sweep -slurm -submit, which submits only the jobs not done)\n", script)
		return nil
	}
	var todo []int
	for _, st := range sweep.Status(dir, idx) {
		if st.Status == sweep.Failed || (!failedOnly && st.Status == sweep.Pending) {
			todo = append(todo, st.Index)
		}
	}
	if len(todo) == 0 {
		fmt.Fprintf(stdout, "nothing to submit: no job is %s\n", map[bool]string{true: "failed", false: "pending or failed"}[failedOnly])
		return nil
	}
	id, err := sweep.Submit(script, todo, res.Throttle)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "submitted array job %s: tasks %s; progress: wtacrs sweep status %s\n", id, sweep.ArraySpec(todo, 0), dir)
	return nil
}

// sweepProgress prints one line per job that starts or ends, with the counts and the ETA.
func sweepProgress(w io.Writer, total int) func(sweep.Event) {
	return func(e sweep.Event) {
		what := e.Status
		switch {
		case e.Skipped:
			what = "done already"
		case e.Status == sweep.Running:
			what = "start"
		case e.Status == sweep.Failed:
			what = "FAILED"
		case e.Status == sweep.Pending:
			what = "busy"
		}
		line := fmt.Sprintf("[%d/%d] %-12s %s  %s seed %d", e.Counts.Done, total, what, e.Job.Hash, e.Job.Variant, e.Job.Seed)
		if e.Status != sweep.Running && !e.Skipped {
			line += fmt.Sprintf(" (%s)", e.Elapsed.Round(100*time.Millisecond))
		}
		line += " | " + e.Counts.String()
		if e.ETA > 0 {
			line += " | ETA " + e.ETA.Round(time.Second).String()
		}
		if e.Err != nil {
			line += "\n    " + strings.ReplaceAll(e.Err.Error(), "\n", "\n    ")
		}
		fmt.Fprintln(w, line)
	}
}

func count(status []sweep.JobStatus) sweep.Counts {
	var c sweep.Counts
	for _, st := range status {
		switch st.Status {
		case sweep.Done:
			c.Done++
		case sweep.Running:
			c.Running++
		case sweep.Failed:
			c.Failed++
		default:
			c.Pending++
		}
	}
	return c
}

func mergeAndReport(dir string, partial bool, stdout io.Writer) error {
	files, err := sweep.Merge(dir, sweep.MergeOptions{Partial: partial})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "merged into %s (%d entries); see %s\n", filepath.Join(dir, sweep.MergedDir), len(files),
		filepath.Join(dir, sweep.MergedDir, sweep.MergedSummaryFile))
	return nil
}

func runSweepMerge(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs sweep merge [-partial] DIR",
		"Merges the jobs of the sweep folder DIR into DIR/merged/ (replaced atomically): per metric a CSV\n"+
			"and a Markdown table of each variant's mean and 95% t interval over the seeds, every job's\n"+
			"numbers, per variant the jobs' CSV files and figures with seed bands, accuracy and memory\n"+
			"figures, summary.md. The tables are the same bytes however and wherever the jobs ran.",
		"wtacrs sweep merge sweeps/example")
	partial := fs.Bool("partial", false, "merge the jobs done even when others are not")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage(fmt.Sprintf("sweep merge needs exactly one sweep folder, got %d arguments", len(pos)))
	}
	return mergeAndReport(pos[0], *partial, stdout)
}

func runSweepStatus(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs sweep status DIR",
		"Prints the jobs of the sweep folder DIR done, running, failed (with the error and the log of\n"+
			"its Slurm task) and pending, with an ETA from the mean time of the jobs done.",
		"wtacrs sweep status sweeps/example")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage(fmt.Sprintf("sweep status needs exactly one sweep folder, got %d arguments", len(pos)))
	}
	dir := pos[0]
	idx, err := sweep.ReadIndex(dir)
	if err != nil {
		return err
	}
	status := sweep.Status(dir, idx)
	c := count(status)
	var wall float64
	for _, st := range status {
		if st.Record != nil {
			wall += st.Record.WallSeconds
		}
	}
	line := fmt.Sprintf("sweep %s (%s): %d jobs: %s", idx.Sweep, dir, len(status), c)
	if c.Done > 0 && c.Pending+c.Running > 0 {
		mean := wall / float64(c.Done)
		eta := time.Duration(mean * float64(c.Pending+c.Running) / float64(max(1, c.Running)) * float64(time.Second))
		line += fmt.Sprintf("; ETA %s (mean job %s, %d at once)", eta.Round(time.Second), time.Duration(mean*float64(time.Second)).Round(100*time.Millisecond), max(1, c.Running))
	}
	fmt.Fprintln(stdout, line)
	for _, want := range []string{sweep.Running, sweep.Failed} {
		first := true
		for _, st := range status {
			if st.Status != want {
				continue
			}
			if first {
				fmt.Fprintf(stdout, "%s:\n", want)
				first = false
			}
			s := st.State
			where := "on " + s.Host + " pid " + strconv.Itoa(s.PID)
			if s.Slurm != "" {
				where += ", Slurm task " + s.Slurm
			}
			fmt.Fprintf(stdout, "  %4d  %s  %s seed %d  (%s, %s)\n", st.Index, st.Hash, st.Variant, st.Seed, where, s.Time.Local().Format(time.DateTime))
			if want == sweep.Failed {
				fmt.Fprintf(stdout, "        %s\n", strings.ReplaceAll(s.Error, "\n", "\n        "))
			}
			if s.Log != "" {
				fmt.Fprintf(stdout, "        log: %s\n", s.Log)
			}
		}
	}
	if c.Failed > 0 {
		fmt.Fprintf(stdout, "resubmit the failed jobs alone: wtacrs sweep -slurm -submit -failed %s   (locally: wtacrs sweep %s)\n", dir, dir)
	}
	if c.Done == len(status) {
		fmt.Fprintf(stdout, "every job is done: wtacrs sweep merge %s\n", dir)
	}
	return nil
}

func runSweepJob(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep run-job", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs sweep run-job [flags] DIR HASH\n       wtacrs sweep run-job [flags] -task N DIR",
		"Runs one job of the sweep folder DIR, by its hash or by its index in DIR/jobs.tsv (a Slurm array\n"+
			"task id): the job runner of every sweep, local or on Slurm. A job done is skipped; one another\n"+
			"process is running is left alone (exit status 0 both). In a Slurm task with --mem, the\n"+
			"default -mem-limit is that memory.",
		"wtacrs sweep run-job sweeps/example 1f5d18a872f0b5bc",
		"wtacrs sweep run-job -task 3 sweeps/example")
	task := fs.Int("task", -1, "the job's index in DIR/jobs.tsv instead of its hash")
	memLimit := memLimitFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	set := setFlags(fs)
	want := 2
	if set["task"] {
		want = 1
	}
	if len(pos) != want {
		fs.Usage()
		return errUsage(fmt.Sprintf("sweep run-job needs DIR and HASH (or -task N and DIR), got %d arguments", len(pos)))
	}
	dir := pos[0]
	idx, err := sweep.ReadIndex(dir)
	if err != nil {
		return err
	}
	var hash string
	if set["task"] {
		if *task < 0 || *task >= len(idx.Jobs) {
			return errUsage(fmt.Sprintf("-task %d: the sweep %s has jobs 0 to %d", *task, idx.Sweep, len(idx.Jobs)-1))
		}
		hash = idx.Jobs[*task].Hash
	} else {
		hash = pos[1]
	}
	ij, err := idx.Job(hash)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	name := fmt.Sprintf("job %d %s", ij.Index, ij.Hash)
	fmt.Fprintf(stdout, "%s: %s seed %d\n", name, ij.Variant, ij.Seed)
	bar := newProgressBar(stdout, isTerminal(stdout))
	limit := memLimit()
	if mb, err := strconv.ParseUint(os.Getenv("SLURM_MEM_PER_NODE"), 10, 64); err == nil && mb > 0 && !set["mem-limit"] {
		limit = min(limit, mb<<20) // a Slurm task's --mem, when it has one
		debug.SetMemoryLimit(int64(limit))
	}
	rec, skipped, err := sweep.RunJob(ctx, dir, hash, sweep.RunOptions{MemLimit: limit, Train: sweepTrain,
		Progress: func(p train.Progress) { bar.update(name, p) }})
	bar.done()
	switch {
	case errors.Is(err, sweep.ErrBusy):
		fmt.Fprintf(stdout, "%s: %v; left alone\n", name, err)
		return nil
	case err != nil:
		return interruptedErr(ctx, err, "the job is recorded as failed; it reruns from the start")
	case skipped:
		fmt.Fprintf(stdout, "%s: done already, skipped\n", name)
	default:
		fmt.Fprintf(stdout, "%s: done in %.1f s: dev accuracy %.4f\n", name, rec.WallSeconds, rec.Metrics.DevAccuracy)
	}
	return nil
}
