package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/wtacrs/wtacrs/matrix"
)

func init() {
	register(command{name: "version", summary: "print the version, the Go release and the GEMM backend", run: runVersion})
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, "wtacrs version",
		"Prints the module version and the commit wtacrs was built from (when the build recorded\n"+
			"them), the Go release and platform, and the matrix-multiply backend in use, which the\n"+
			"environment variable WTACRS_BLAS chooses: auto (default: OpenBLAS or another CBLAS\n"+
			"when installed, else gonum's pure Go), go (the pure Go), or the path of a CBLAS library.",
		"wtacrs version",
		"WTACRS_BLAS=go wtacrs version")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return errUsage("version takes no arguments")
	}
	_, err = io.WriteString(stdout, versionText())
	return err
}

// versionText is what wtacrs version prints.
func versionText() string {
	version, commit := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified {
			commit += " (with uncommitted changes)"
		}
	}
	return fmt.Sprintf("wtacrs %s\ncommit: %s\ngo: %s %s/%s\ngemm: %s\n",
		version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH, matrix.Backend())
}
