// Package memlimit checks, before anything large is allocated, that a job's estimated memory
// fits under a limit: by default the memory the machine has available, or a limit the user
// gives (the -mem-limit flag of the wtacrs commands).
//
// Estimates are upper-bound sums of the big buffers a job allocates (matrices, activations,
// optimiser state), not the Go heap's exact peak; they exist so that an absurd configuration is
// refused at once with the figure, instead of dying of a fatal out-of-memory error later.
package memlimit

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
)

// ErrTooLarge reports a job whose estimated memory exceeds the limit.
var ErrTooLarge = errors.New("memlimit: estimated memory above the limit")

// ErrSize reports a malformed size string given to [ParseSize].
var ErrSize = errors.New("memlimit: malformed size")

// Unlimited disables the check when given as a limit.
const Unlimited = math.MaxUint64

// Available returns the memory available to new allocations, from MemAvailable in
// /proc/meminfo. Where that cannot be read (not Linux, or an old kernel) it returns ok = false.
func Available() (bytes uint64, ok bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, found := strings.Cut(sc.Text(), ":")
		if !found || name != "MemAvailable" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil || kb > math.MaxUint64/1024 {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}

// Default returns the default limit: [Available], or [Unlimited] where it cannot be read.
func Default() uint64 {
	if b, ok := Available(); ok {
		return b
	}
	return Unlimited
}

// ParseSize parses a size such as "8GiB", "512MiB", "2.5GB", "1e9" or "0" (bytes; binary
// suffixes KiB, MiB, GiB, TiB and decimal kB, MB, GB, TB, case-insensitive; "none" or
// "unlimited" for [Unlimited]). Errors wrap ErrSize.
func ParseSize(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "none", "unlimited", "off":
		return Unlimited, nil
	}
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || v < 0 {
		return 0, fmt.Errorf("%w: %q (want a byte count such as 8GiB, 512MiB or 1e9, or \"none\")", ErrSize, s)
	}
	b := v * mult
	if b >= math.MaxUint64 {
		return Unlimited, nil
	}
	return uint64(b), nil
}

// Format prints a byte count with a binary unit ("1.5 GiB"); [Unlimited] prints "unlimited".
func Format(b uint64) string {
	if b == Unlimited {
		return "unlimited"
	}
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	v, u := float64(b), 0
	for v >= unit && u < 5 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[u-1])
}

// Check returns an error wrapping ErrTooLarge, naming what and both figures, when need exceeds
// limit.
func Check(what string, need, limit uint64) error {
	if need <= limit {
		return nil
	}
	return fmt.Errorf("%w: %s needs about %s, above the limit of %s (set -mem-limit to change it)",
		ErrTooLarge, what, Format(need), Format(limit))
}

// Sum adds byte counts without wrapping: a sum that overflows is [Unlimited].
func Sum(terms ...uint64) uint64 {
	var s uint64
	for _, t := range terms {
		var carry uint64
		if s, carry = bits.Add64(s, t, 0); carry != 0 {
			return Unlimited
		}
	}
	return s
}

// Mul multiplies non-negative counts (element counts, sizes) into a byte count without wrapping:
// a negative factor is treated as zero, and a product that overflows is [Unlimited].
func Mul(factors ...int) uint64 {
	p := uint64(1)
	for _, f := range factors {
		if f <= 0 {
			return 0
		}
		hi, lo := bits.Mul64(p, uint64(f))
		if hi != 0 {
			return Unlimited
		}
		p = lo
	}
	return p
}
