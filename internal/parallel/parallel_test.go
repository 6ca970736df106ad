package parallel

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForVisitsEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 1000} {
		seen := make([]atomic.Int32, n)
		For(n, func(i int) { seen[i].Add(1) })
		for i := range seen {
			require.Equal(t, int32(1), seen[i].Load(), "n = %d, i = %d", n, i)
		}
	}
}

func TestChunksCoverEveryRowOnce(t *testing.T) {
	for _, c := range []struct{ rows, cols, min int }{{0, 5, 0}, {1, 1, 0}, {10, 3, 0}, {1000, 100, 1 << 16}, {5, 1, 1 << 16}} {
		seen := make([]atomic.Int32, c.rows)
		Chunks(c.rows, c.cols, c.min, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			require.Equal(t, int32(1), seen[i].Load(), "%+v row %d", c, i)
		}
	}
}

// Regression: a panic in a worker goroutine killed the process (exit status 2, like a clean
// error) instead of reaching the command's recover.
func TestWorkerPanicReachesTheCaller(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two workers")
	}
	boom := errors.New("boom")
	for name, run := range map[string]func(){
		"For": func() {
			For(100, func(i int) {
				if i == 37 {
					panic(boom)
				}
			})
		},
		"Chunks": func() {
			Chunks(100, 1, 0, func(lo, hi int) {
				if lo > 0 {
					panic(boom)
				}
			})
		},
	} {
		var got any
		func() {
			defer func() { got = recover() }()
			run()
		}()
		p, ok := got.(*Panic)
		require.True(t, ok, "%s: recovered %T %v", name, got, got)
		assert.ErrorIs(t, p, boom, name)
		assert.Contains(t, p.Error(), "boom", name)
		assert.NotEmpty(t, p.Stack, name)
	}
}

func TestForWorkersNeverOverlapsAWorker(t *testing.T) {
	for _, n := range []int{0, 1, 5, 1000} {
		w := Workers(n)
		busy := make([]atomic.Int32, w)
		seen := make([]atomic.Int32, n)
		ForWorkers(n, func(worker, i int) {
			if worker < 0 || worker >= w {
				t.Errorf("worker %d outside [0, %d)", worker, w)
				return
			}
			if busy[worker].Add(1) != 1 {
				t.Errorf("worker %d runs two calls at once", worker)
			}
			seen[i].Add(1)
			busy[worker].Add(-1)
		})
		for i := range seen {
			require.Equal(t, int32(1), seen[i].Load(), "n = %d, i = %d", n, i)
		}
	}
}

// ForLimit visits every index once and never runs more bodies at once than its limit.
func TestForLimitBoundsTheWorkers(t *testing.T) {
	for _, c := range []struct{ n, workers int }{{0, 3}, {1, 3}, {5, 1}, {5, 0}, {7, 2}, {50, 3}} {
		seen := make([]atomic.Int32, c.n)
		var running, peak atomic.Int32
		ForLimit(c.n, c.workers, func(i int) {
			r := running.Add(1)
			for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
			}
			seen[i].Add(1)
			runtime.Gosched()
			running.Add(-1)
		})
		for i := range seen {
			require.Equal(t, int32(1), seen[i].Load(), "%+v, i = %d", c, i)
		}
		assert.LessOrEqual(t, peak.Load(), int32(max(c.workers, 1)), "%+v", c)
	}
}
