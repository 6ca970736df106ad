package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

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
		"Checks the paper's claims (Theorem 1, Eq. 3, the closed forms, Theorem 2, the linear layer)\n"+
			"on generated cases, prints a table and writes OUT/theory/findings.json and findings.md.",
		"wtacrs verify",
		"wtacrs verify -long -out /tmp/res")
	out := fs.String("out", "results", "`DIR` of the results; the findings go to DIR/theory/")
	long := fs.Bool("long", false, "10 times the cases and 10 times the sketches (100 times the trials)")
	cases := fs.Int("cases", 0, "number of generated cases (0: the default, 300, or 3000 with -long)")
	sketches := fs.Int("sketches", 0, "Monte Carlo sketches per plan and case (0: 500, or 5000 with -long)")
	seed := fs.Uint64("seed", theory.DefaultConfig().Seed, "seed of the cases and the sketches")
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
	dir := filepath.Join(*out, "theory")
	if err := checkWritableDir(dir); err != nil {
		return err
	}
	rep, err := theory.Verify(cfg)
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if err := rep.WriteFiles(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s and %s\n", filepath.Join(dir, "findings.json"), filepath.Join(dir, "findings.md"))
	return nil
}
