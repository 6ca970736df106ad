package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"

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
	fs.Func("mem-limit", "refuse a job estimated to need more memory than this (e.g. 8GiB, 512MiB, or none); default: the memory available now",
		func(s string) error {
			v, err := memlimit.ParseSize(s)
			if err != nil {
				return err
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
