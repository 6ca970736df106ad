package train

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

// touch returns a buffer of n bytes with every page written, so that it is resident.
func touch(n int) []byte {
	buf := make([]byte, n)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	return buf
}

// TestPeakRSS checks the peak resident set: it holds a buffer touched before, forgets it once
// restarted after the buffer was returned to the system, and holds most of one touched after
// (the runtime may return other free memory meanwhile, hence the margins).
func TestPeakRSS(t *testing.T) {
	buf := touch(128 << 20)
	first := peakRSS()
	runtime.KeepAlive(buf)
	assert.GreaterOrEqual(t, first, uint64(128<<20))
	buf = nil
	runtime.GC()
	debug.FreeOSMemory()
	if !resetPeakRSS() {
		t.Skip("/proc/self/clear_refs is not writable here")
	}
	restarted := peakRSS()
	assert.Less(t, restarted, first-64<<20, "the restart forgets the returned buffer")
	buf = touch(64 << 20)
	after := peakRSS()
	runtime.KeepAlive(buf)
	assert.GreaterOrEqual(t, after, restarted+32<<20)
}
