package train

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPeakRSS checks that the peak resident set rises by a buffer touched after the restart.
func TestPeakRSS(t *testing.T) {
	if !resetPeakRSS() {
		t.Skip("/proc/self/clear_refs is not writable here")
	}
	before := peakRSS()
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after := peakRSS()
	runtime.KeepAlive(buf)
	assert.Greater(t, before, uint64(0))
	assert.GreaterOrEqual(t, after, before+60<<20)
}
