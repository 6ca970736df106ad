// Package parallel runs loop bodies on several goroutines. A panic in a body is carried back to
// the calling goroutine and raised there once every worker has stopped, so that a caller (or
// the command's recover) sees it like a panic of a sequential loop instead of the process
// dying from an unrecovered panic on another goroutine.
package parallel

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Panic is the value re-raised on the calling goroutine: the worker's panic value and stack.
type Panic struct {
	// Value is what the worker passed to panic (the first worker to panic, when several did).
	Value any
	// Stack is the worker goroutine's stack trace at the panic, as debug.Stack formats it.
	Stack []byte
}

func (p *Panic) Error() string {
	return fmt.Sprintf("panic in a parallel worker: %v\n%s", p.Value, p.Stack)
}

// Unwrap returns the worker's value when it is an error.
func (p *Panic) Unwrap() error {
	if err, ok := p.Value.(error); ok {
		return err
	}
	return nil
}

// group runs workers and keeps the first panic.
type group struct {
	wg    sync.WaitGroup
	first atomic.Pointer[Panic]
}

func (g *group) go_(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				g.first.CompareAndSwap(nil, &Panic{Value: v, Stack: debug.Stack()})
			}
		}()
		f()
	}()
}

func (g *group) wait() {
	g.wg.Wait()
	if p := g.first.Load(); p != nil {
		panic(p)
	}
}

// For runs f(i) for every i in [0, n), handing out indices one at a time to up to GOMAXPROCS
// goroutines (for bodies of uneven cost). With one worker, or n ≤ 1, it runs sequentially on
// the calling goroutine.
func For(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var g group
	var next atomic.Int64
	for range workers {
		g.go_(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || g.first.Load() != nil {
					return
				}
				f(i)
			}
		})
	}
	g.wait()
}

// ForLimit is [For] on at most workers goroutines (fewer when n or GOMAXPROCS is smaller; at
// least one): for bodies that each hold much memory, such as whole training runs. With one
// worker it runs sequentially on the calling goroutine.
func ForLimit(n, workers int, f func(i int)) {
	workers = min(workers, runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var g group
	var next atomic.Int64
	for range workers {
		g.go_(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || g.first.Load() != nil {
					return
				}
				f(i)
			}
		})
	}
	g.wait()
}

// Workers returns the number of goroutines [ForWorkers] uses for n indices (at least 1).
func Workers(n int) int { return max(1, min(runtime.GOMAXPROCS(0), n)) }

// ForWorkers is [For] that also passes the worker running f, an integer in [0, Workers(n)):
// calls with the same worker never overlap, so per-worker scratch memory can be reused
// across indices.
func ForWorkers(n int, f func(worker, i int)) {
	workers := Workers(n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(0, i)
		}
		return
	}
	var g group
	var next atomic.Int64
	for w := range workers {
		g.go_(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || g.first.Load() != nil {
					return
				}
				f(w, i)
			}
		})
	}
	g.wait()
}

// Chunks splits [0, rows) into one contiguous chunk per goroutine (up to GOMAXPROCS) and runs
// f(lo, hi) on each, when rows·cols (the work) is at least minWork; otherwise it runs f(0, rows)
// on the calling goroutine.
func Chunks(rows, cols, minWork int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), rows)
	if workers <= 1 || rows*cols < minWork {
		f(0, rows)
		return
	}
	var g group
	chunk := (rows + workers - 1) / workers
	for lo := 0; lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		g.go_(func() { f(lo, hi) })
	}
	g.wait()
}
