// Command cuda2go generates the Go side of the CUDA kernels of package gpu from their sources, so
// that the kernels are their only description:
//
//   - gpu/kernels_gen.go (every build): a Go constant for every "#define WTACRS_<NAME> <expr>" of
//     gpu/kernels/common.cuh (block sizes, modes, scalar slots) and the table of the kernels of
//     gpu/kernels/*.cu with their block size (their __launch_bounds__) and parameters;
//   - gpu/launch_gen.go (build tag cuda): one typed launch method per kernel, which puts every
//     argument in its own 8-byte slot.
//
// A kernel must read
//
//	extern "C" __global__ void __launch_bounds__(<expr>) wtacrs_<name>(<parameters>)
//
// with parameters that are pointers to float, double, int, unsigned int, long long or unsigned
// long long, or scalars of 8 bytes (long long, unsigned long long, double): gorgonia.org/cu copies
// 8 bytes per argument, so a narrower scalar is rejected. Run it through go generate:
//
//	go generate ./gpu            # or: go run ./gpu/internal/cuda2go -dir gpu
//	go run ./gpu/internal/cuda2go -dir gpu -check   # exit status 1 when the files are stale
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", ".", "the directory of package gpu (with kernels/ inside)")
	check := flag.Bool("check", false, "only report whether the generated files are up to date")
	flag.Parse()
	if err := run(*dir, *check); err != nil {
		fmt.Fprintln(os.Stderr, "cuda2go:", err)
		os.Exit(1)
	}
}

func run(dir string, check bool) error {
	files, err := Generate(dir)
	if err != nil {
		return err
	}
	var stale []string
	for _, name := range sortedKeys(files) {
		path := filepath.Join(dir, name)
		old, err := os.ReadFile(path)
		if err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if check {
			stale = append(stale, path)
			continue
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("%v out of date with %s: run go generate ./gpu", stale, filepath.Join(dir, "kernels"))
	}
	return nil
}
