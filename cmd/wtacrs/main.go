// Command wtacrs is the command-line front end of the project: estimate a product with one
// method, verify the paper's claims, train and analyse, plot.
//
//	wtacrs <command> [flags] [args]
//
// Every command writes its result on stdout and its errors on stderr, and exits with status 2
// on any error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
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

// run dispatches to a subcommand and returns the exit status: 0, or 2 on any error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wtacrs: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	err := c.run(args[1:], stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp): // -h: the command's flag set has printed its usage
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "wtacrs %s: %v\n", c.name, err)
		return 2
	}
	return 0
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
	fmt.Fprintln(w, "\nRun 'wtacrs <command> -h' for a command's flags.")
}

// errUsage marks a command-line mistake.
type errUsage string

func (e errUsage) Error() string { return strings.TrimSpace(string(e)) }
