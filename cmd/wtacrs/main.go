// Command wtacrs is the command-line front end of the project: estimate a product with one
// method, verify the paper's claims, train and analyse, plot.
//
//	wtacrs <command> [flags] [args]
//
// Every command writes its result on stdout and its errors on stderr. Exit status: 0 on
// success; 1 when the job failed while running (an I/O error, training diverged, another run
// holds the output); 2 for a usage, configuration or input error (nothing was run), a
// library named by WTACRS_BLAS that cannot be loaded included; 3 for an internal error (a
// bug); 128+n when stopped by signal n (130 for Ctrl-C, 143 for SIGTERM).
//
// The environment variable WTACRS_BLAS chooses the matrix-multiply library: "auto" (the
// default) loads OpenBLAS or another CBLAS when one is installed and uses gonum's pure Go
// otherwise, "go" forces the pure Go, any other value is the path of the library to load.
// wtacrs version prints the one in use; every manifest records it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/wtacrs/wtacrs/matrix"
)

// command is one subcommand. run parses its own flags.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

// register adds a subcommand; each lives in its own file and registers itself in init.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("wtacrs: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run dispatches to a subcommand and returns the exit status (see the package documentation).
// A panic of the command is reported as an internal error.
func run(args []string, stdout, stderr io.Writer) (code int) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 2 && args[0] == "help" { // wtacrs help COMMAND: the command's own usage
			if c, ok := commands[args[1]]; ok {
				return exitStatus(c.run([]string{"-h"}, stdout, stderr))
			}
			fmt.Fprintf(stderr, "wtacrs: unknown command %q\n", args[1])
			usage(stderr)
			return exitUsage
		}
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wtacrs: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	// A GEMM library that WTACRS_BLAS names and that cannot be loaded stops every command
	// before it runs, rather than a run silently on the slower pure Go.
	if err := matrix.InitBackend(); err != nil {
		fmt.Fprintf(stderr, "wtacrs: %v\n", err)
		return exitUsage
	}
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "wtacrs %s: internal error (a bug; please report it with this message): %v\n%s", c.name, p, debug.Stack())
			code = exitInternal
		}
	}()
	err := c.run(args[1:], stdout, stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) { // on -h the flag set has printed its usage
		fmt.Fprintf(stderr, "wtacrs %s: %v\n", c.name, err)
	}
	return exitStatus(err)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wtacrs <command> [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'wtacrs help <command>' (or 'wtacrs <command> -h') for a command's flags and examples.")
	fmt.Fprintln(w, "\nExit status: 0 success; 1 the job failed while running (I/O error, training diverged,")
	fmt.Fprintln(w, "output locked by another run); 2 usage, configuration or input error (nothing was run);")
	fmt.Fprintln(w, "3 internal error (a bug); 128+n stopped by signal n (130 Ctrl-C, 143 SIGTERM).")
}

// errUsage marks a command-line mistake.
type errUsage string

func (e errUsage) Error() string { return strings.TrimSpace(string(e)) }
