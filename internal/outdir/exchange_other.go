//go:build !linux

package outdir

import "errors"

var errNoExchange = errors.New("outdir: atomic exchange not supported")

// exchange is not available on this system; Commit falls back to two renames.
func exchange(a, b string) error { return errNoExchange }
