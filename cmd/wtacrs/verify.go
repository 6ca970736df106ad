package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/theory"
)

func init() {
	register(command{name: "verify", summary: "check the paper's claims on generated cases; write results/theory/findings.{json,md}", run: runVerify})
}

// runVerify implements `wtacrs verify [-out DIR] [-long] [-cases N] [-sketches T] [-seed S]`.
func runVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs verify [flags]",
		"Checks the paper's claims (Theorem 1, Eq. 3, the closed forms, Theorem 2, the linear layer,\n"+
			"the stratified estimator) on generated cases, prints a table and writes\n"+
			"OUT/theory/findings.json and findings.md.",
		"wtacrs verify",
		"wtacrs verify -long -out /tmp/res")
	out := fs.String("out", "results", "`DIR` of the results; the findings go to DIR/theory/")
	long := fs.Bool("long", false, "10 times the cases and 10 times the sketches (100 times the trials)")
	cases := fs.Int("cases", 0, "number of generated cases (0: the default, 300, or 3000 with -long)")
	sketches := fs.Int("sketches", 0, "Monte Carlo sketches per plan and case (0: 500, or 5000 with -long)")
	seed := fs.Uint64("seed", theory.DefaultConfig().Seed, "seed of the cases and the sketches")
	maxTrials := fs.Float64("max-trials", 1e8, "refuse a run of more than `N` cases x sketches (the default run is 1.5e5, -long 1.5e7, about 13 minutes on 2 cores)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	if len(pos) > 0 {
		return errUsage(fmt.Sprintf("unexpected arguments %q", pos))
	}
	cfg := theory.DefaultConfig()
	if *long {
		cfg = theory.LongConfig()
	}
	cfg.Seed = *seed
	switch {
	case *cases < 0:
		return errUsage(fmt.Sprintf("-cases %d: want at least 1 (0 for the default)", *cases))
	case *sketches < 0:
		return errUsage(fmt.Sprintf("-sketches %d: want a positive number (0 for the default)", *sketches))
	case *cases > 0:
		cfg.Cases = *cases
	}
	if *sketches > 0 {
		cfg.Sketches = *sketches
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if !(*maxTrials >= 1) {
		return errUsage(fmt.Sprintf("-max-trials %v: want a count >= 1", *maxTrials))
	}
	if trials := float64(cfg.Cases) * float64(cfg.Sketches); trials > *maxTrials {
		return fmt.Errorf("%w: %d cases x %d sketches = %.3g trials, above -max-trials %.3g (the -long run, 1.5e7 trials, takes about 13 minutes on 2 cores)",
			errTooMuchWork, cfg.Cases, cfg.Sketches, trials, *maxTrials)
	}
	// The findings go to OUT/theory/, which must be absent or findings this command wrote.
	target, err := outdir.Open(*out, "theory", outdir.Options{Owned: findingsDir})
	if err != nil {
		return err
	}
	defer target.Close()
	rep, err := theory.Verify(cfg)
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	staged, err := target.Stage()
	if err != nil {
		return err
	}
	if err := rep.WriteFiles(staged); err != nil {
		return err
	}
	if err := target.Commit(staged); err != nil {
		return err
	}
	dir := target.Dir()
	fmt.Fprintf(stdout, "\nwrote %s and %s\n", filepath.Join(dir, "findings.json"), filepath.Join(dir, "findings.md"))
	return nil
}

// findingsDir reports whether dir holds only findings wtacrs verify wrote: findings.json (a
// report with its configuration and findings) and findings.md.
func findingsDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || (e.Name() != "findings.json" && e.Name() != "findings.md") {
			return fmt.Errorf("it holds %s, which wtacrs verify does not write", e.Name())
		}
	}
	js, err := os.ReadFile(filepath.Join(dir, "findings.json"))
	if err != nil {
		return fmt.Errorf("no findings.json")
	}
	var rep struct {
		Config   *struct{ Cases, Sketches int } `json:"config"`
		Findings []json.RawMessage              `json:"findings"`
	}
	if json.Unmarshal(js, &rep) != nil || rep.Config == nil || len(rep.Findings) == 0 {
		return fmt.Errorf("its findings.json is not a report of wtacrs verify")
	}
	return nil
}
