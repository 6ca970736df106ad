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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wtacrs verify [-out DIR] [-long] [-cases N] [-sketches T] [-seed S]")
		fs.PrintDefaults()
	}
	out := fs.String("out", "results", "folder of the results; the findings go to OUT/theory/")
	long := fs.Bool("long", false, "10× the cases and 10× the sketches (100× the trials)")
	cases := fs.Int("cases", 0, "number of generated cases (0: the default, 300, or 3000 with -long)")
	sketches := fs.Int("sketches", 0, "Monte Carlo sketches per plan and case (0: 500, or 5000 with -long)")
	seed := fs.Uint64("seed", theory.DefaultConfig.Seed, "seed of the cases and the sketches")
	if err := parseFlags(fs, args); err != nil {
		return err // flag.ErrHelp included: the dispatcher exits 0 on it
	}
	if fs.NArg() > 0 {
		return errUsage(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	cfg := theory.DefaultConfig
	if *long {
		cfg = theory.LongConfig
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
