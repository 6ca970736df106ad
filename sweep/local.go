package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/memlimit"
	"github.com/wtacrs/wtacrs/internal/parallel"
)

// Counts are the numbers of jobs in each state.
type Counts struct {
	Done, Running, Failed, Pending int
}

// String reads "3 done, 1 running, 0 failed, 2 pending".
func (c Counts) String() string {
	return fmt.Sprintf("%d done, %d running, %d failed, %d pending", c.Done, c.Running, c.Failed, c.Pending)
}

// Event is one change of a local sweep, for a progress view.
type Event struct {
	// Job is the job that started or ended.
	Job IndexJob
	// Status is Running (started), Done or Failed.
	Status string
	// Skipped marks a job found done, not run.
	Skipped bool
	// Err is the failure of a Failed job.
	Err error
	// Elapsed is the job's wall time (when it ended).
	Elapsed time.Duration
	// Counts are the sweep's jobs after the change.
	Counts Counts
	// ETA estimates the time to the end from the mean time of the jobs run so far; 0 when
	// nothing has been run yet.
	ETA time.Duration
}

// LocalOptions are the settings of [RunLocal].
type LocalOptions struct {
	// Jobs is the most jobs trained at once; at least 1 (0 means 1). They share MemLimit.
	Jobs int
	// MemLimit is the memory all jobs trained at once may be estimated to need together; 0
	// means the memory available when RunLocal starts.
	MemLimit uint64
	// Progress, when not nil, is told of every job that starts or ends; calls never overlap.
	Progress func(Event)
	// Train trains a configuration. Default train.Run.
	Train experiments.TrainFunc
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// RunLocal runs every job of the sweep folder dir that is not done, up to opt.Jobs at once,
// each with [RunJob] (the code a Slurm task runs), and returns the counts at the end. Done
// jobs are skipped, and interrupted or failed ones are run again from the start. When jobs
// fail the others still run, and the error wraps ErrFailed and lists them. When ctx is
// cancelled no job starts and the running ones stop between training steps (each recorded as
// failed, to be rerun); the error then wraps ctx.Err().
func RunLocal(ctx context.Context, dir string, opt LocalOptions) (Counts, error) {
	idx, err := ReadIndex(dir)
	if err != nil {
		return Counts{}, err
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	jobs := max(1, opt.Jobs)
	limit := opt.MemLimit
	if limit == 0 {
		limit = memlimit.Default()
	}
	if limit != memlimit.Unlimited {
		limit = max(1, limit/uint64(min(jobs, max(1, len(idx.Jobs)))))
	}
	var (
		mu     sync.Mutex
		counts = Counts{Pending: len(idx.Jobs)}
		ran    int
		spent  time.Duration
		failed []string
		busy   []string
	)
	emit := func(e Event) {
		e.Counts = counts
		if ran > 0 {
			e.ETA = time.Duration(float64(spent) / float64(ran) * float64(counts.Pending+counts.Running) / float64(jobs))
		}
		if opt.Progress != nil {
			opt.Progress(e)
		}
	}
	parallel.ForLimit(len(idx.Jobs), jobs, func(i int) {
		j := idx.Jobs[i]
		if ctx.Err() != nil {
			return
		}
		if _, err := ReadRecord(dir, j.Hash); err == nil {
			mu.Lock()
			counts.Pending--
			counts.Done++
			emit(Event{Job: j, Status: Done, Skipped: true})
			mu.Unlock()
			return
		}
		mu.Lock()
		counts.Pending--
		counts.Running++
		emit(Event{Job: j, Status: Running})
		mu.Unlock()
		start := opt.Now()
		_, skipped, err := RunJob(ctx, dir, j.Hash, RunOptions{MemLimit: limit, Train: opt.Train, Now: opt.Now})
		took := opt.Now().Sub(start)
		mu.Lock()
		defer mu.Unlock()
		counts.Running--
		switch {
		case errors.Is(err, ErrBusy):
			counts.Pending++
			busy = append(busy, j.Hash)
			emit(Event{Job: j, Status: Pending, Err: err, Elapsed: took})
		case err != nil:
			counts.Failed++
			failed = append(failed, fmt.Sprintf("%s (%s seed %d): %v", j.Hash, j.Variant, j.Seed, err))
			emit(Event{Job: j, Status: Failed, Err: err, Elapsed: took})
		default:
			counts.Done++
			if !skipped {
				ran++
				spent += took
			}
			emit(Event{Job: j, Status: Done, Skipped: skipped, Elapsed: took})
		}
	})
	if err := ctx.Err(); err != nil {
		return counts, fmt.Errorf("sweep %s: %s: %w", idx.Sweep, counts, err)
	}
	if len(failed) > 0 {
		return counts, fmt.Errorf("%w: %d of %d:\n  %s", ErrFailed, len(failed), len(idx.Jobs), strings.Join(failed, "\n  "))
	}
	if len(busy) > 0 {
		return counts, fmt.Errorf("%w: %s", ErrBusy, strings.Join(busy, ", "))
	}
	return counts, nil
}
