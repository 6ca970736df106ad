//go:build !linux

package train

// resetPeakRSS reports that the peak resident set cannot be restarted here.
func resetPeakRSS() bool { return false }

// peakRSS returns 0: the peak resident set is read on Linux only.
func peakRSS() uint64 { return 0 }
