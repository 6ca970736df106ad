package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/outdir"
)

// memLimitFlag adds -mem-limit to fs and returns a function that gives the limit in bytes:
// the flag's value, or the memory available now (memlimit.Default) when it is not set. The
// function also sets Go's soft memory limit to it, so that the garbage collector keeps the heap
// under the limit that the up-front estimate was checked against.
func memLimitFlag(fs *flag.FlagSet) func() uint64 {
	var limit uint64
	set := false
	fs.Func("mem-limit", "refuse a job estimated to need more than `SIZE` bytes of memory (8GiB, 512MiB, 1e9, or none); default: the memory available now",
		func(s string) error {
			v, err := memlimit.ParseSize(s)
			if err != nil {
				return err
			}
			if v == 0 {
				return fmt.Errorf("%q: want a positive size (or none for no limit)", s)
			}
			limit, set = v, true
			return nil
		})
	return func() uint64 {
		if !set {
			limit = memlimit.Default()
		}
		if limit != memlimit.Unlimited && limit <= 1<<62 {
			debug.SetMemoryLimit(int64(limit))
		}
		return limit
	}
}

// checkWritableDir creates dir (and its parents) if needed and checks that files can be created
// in it, before a long job whose results would go there. Failures wrap outdir.ErrRefused.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: cannot create the output folder %s: %w", outdir.ErrRefused, dir, err)
	}
	f, err := os.CreateTemp(dir, ".wtacrs-probe-*")
	if err != nil {
		return fmt.Errorf("%w: cannot write in %s: %w", outdir.ErrRefused, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// checkOutputFile checks, before a long job, that its result can be written to path: the
// folder exists and accepts new files, path is not a folder, not one of the job's inputs, and,
// when it exists, is a file this command wrote before (ours reports that), so that replacing it
// loses nothing the user made. Failures wrap outdir.ErrRefused.
func checkOutputFile(path string, inputs []string, ours func([]byte) bool) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("%w: %w", outdir.ErrRefused, err)
	}
	for _, in := range inputs {
		if in == "" {
			continue
		}
		a, err := filepath.Abs(in)
		if err == nil && (a == abs || sameFile(a, abs)) {
			return fmt.Errorf("%w: %s is also an input of this run", outdir.ErrRefused, path)
		}
	}
	if err := checkWritableDir(filepath.Dir(abs)); err != nil {
		return err
	}
	switch st, err := os.Stat(path); {
	case err == nil && st.IsDir():
		return fmt.Errorf("%w: %s is a folder; give a file name", outdir.ErrRefused, path)
	case err == nil:
		b, err := os.ReadFile(path)
		if err != nil || !ours(b) {
			return fmt.Errorf("%w: %s exists and is not a result this command wrote; remove it or choose another name", outdir.ErrRefused, path)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %w", outdir.ErrRefused, err)
	}
	return nil
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// parseArgs parses a command's flags and returns its positional arguments. Flags may come
// before or after the positional arguments (wtacrs run CONFIG -out DIR); "--" ends the flags.
// A malformed flag is a usage error; -h returns flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil // everything after "--" is positional
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageFunc returns a flag set's Usage: the synopsis, a description, the flags and examples,
// all in ASCII so that they paste into any shell.
func usageFunc(fs *flag.FlagSet, w io.Writer, synopsis, description string, examples ...string) func() {
	return func() {
		fmt.Fprintf(w, "usage: %s\n\n%s\n", synopsis, strings.TrimSpace(description))
		if hasFlags(fs) {
			fmt.Fprintln(w, "\nflags (before or after the arguments):")
			fs.PrintDefaults()
		}
		if len(examples) > 0 {
			fmt.Fprintln(w, "\nexamples:")
			for _, e := range examples {
				fmt.Fprintf(w, "  %s\n", e)
			}
		}
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}
