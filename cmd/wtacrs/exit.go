package main

import (
	"errors"
	"flag"
	"io/fs"

	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/inputfile"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/npyfile"
	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/sweep"
	"github.com/wtacrs/wtacrs/theory"
	"github.com/wtacrs/wtacrs/train"
)

// Exit statuses of wtacrs, documented in its usage text and the README.
const (
	exitOK = 0
	// exitFailure: the job could not be done (an I/O error while writing, training diverged,
	// another run holds the output's lock).
	exitFailure = 1
	// exitUsage: a usage, configuration or input error; nothing was run.
	exitUsage = 2
	// exitInternal: a bug (a recovered panic); the message asks for a report.
	exitInternal = 3
	// exitSignal + n: interrupted by signal n (130 for SIGINT, 143 for SIGTERM).
	exitSignal = 128
)

// runtimeErrors are the sentinels of failures while running (exit status 1), checked first: a
// diverged training also wraps the NaN error of the step that diverged.
var runtimeErrors = []error{train.ErrDiverged, outdir.ErrLocked}

// inputErrors are the sentinels of usage, configuration and input errors (exit status 2).
var inputErrors = []error{
	experiments.ErrConfig, experiments.ErrTrace, experiments.ErrResults, experiments.ErrNotResults,
	train.ErrConfig, train.ErrData,
	data.ErrFormat, data.ErrRange, data.ErrEmpty,
	model.ErrConfig, model.ErrInput,
	npyfile.ErrFormat,
	estimator.ErrShape, estimator.ErrNonFinite, estimator.ErrBudget, estimator.ErrNegative, estimator.ErrRange,
	errTooMuchWork,
	memlimit.ErrTooLarge, memlimit.ErrSize,
	outdir.ErrRefused,
	theory.ErrSketches,
	sweep.ErrConfig, sweep.ErrFolder,
	inputfile.ErrUnreadable, fs.ErrNotExist, fs.ErrPermission,
}

// exitStatus maps the error of a command to the exit status.
func exitStatus(err error) int {
	var u errUsage
	var sig interrupted
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &sig):
		return exitSignal + sig.number()
	case errors.As(err, &u):
		return exitUsage
	}
	for _, s := range runtimeErrors {
		if errors.Is(err, s) {
			return exitFailure
		}
	}
	for _, s := range inputErrors {
		if errors.Is(err, s) {
			return exitUsage
		}
	}
	return exitFailure
}

// parseFlags parses a command's flags; a malformed flag is a usage error (the flag set has
// printed the problem and the usage).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage(err.Error())
}
