package sweep

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/train"
)

// ErrBusy reports a job that another process is running now (it holds the lock of the job's
// results); the job is neither done nor failed.
var ErrBusy = errors.New("sweep: job running in another process")

// RunOptions are the optional settings of [RunJob].
type RunOptions struct {
	// MemLimit is the most memory, in bytes, the job's training may be estimated to need; 0 means
	// the memory available when it starts.
	MemLimit uint64
	// Progress, when not nil, receives every optimiser step.
	Progress func(train.Progress)
	// Train trains the job's configuration. Default train.Run.
	Train experiments.TrainFunc
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// RunJob runs the job hash of the sweep folder dir: the one code path of a local sweep and of
// a Slurm array task. A job already done ([ReadRecord]) is not run again: RunJob returns its
// record and skipped = true. Otherwise it trains the job's config.toml (whose SHA-256 must
// still give the hash) with experiments.Run into DIR/jobs/<hash>/<name>/ (built in a temporary
// folder and renamed into place, replacing what an interrupted earlier run left), then writes
// the job's manifest job.json atomically and removes state.json. While it trains, state.json
// says so (host, pid, the Slurm task); when it fails, state.json holds the error and the
// task's log file, and the error is returned. A job another process is running is left alone
// with an error wrapping ErrBusy.
func RunJob(ctx context.Context, dir, hash string, opt RunOptions) (rec *Record, skipped bool, err error) {
	if opt.Train == nil {
		opt.Train = train.Run
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	idx, err := ReadIndex(dir)
	if err != nil {
		return nil, false, err
	}
	ij, err := idx.Job(hash)
	if err != nil {
		return nil, false, err
	}
	if r, err := ReadRecord(dir, hash); err == nil {
		return r, true, nil
	}
	jd := JobDir(dir, hash)
	path := filepath.Join(jd, ConfigFile)
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("%w: job %s: %w", ErrFolder, hash, err)
	}
	if hashOf(text) != hash {
		return nil, false, fmt.Errorf("%w: %s no longer has the hash %s (edited?); prepare the sweep again", ErrFolder, path, hash)
	}
	cfg, err := experiments.LoadConfig(path)
	if err != nil {
		return nil, false, err
	}
	host, _ := os.Hostname()
	slurm, log := slurmTask(dir)
	start := opt.Now()
	var (
		mu      sync.Mutex
		res     *train.Result
		started bool
	)
	writeState := func(st State) {
		st.Host, st.PID, st.Slurm, st.Log = host, os.Getpid(), slurm, log
		js, _ := json.MarshalIndent(st, "", "  ") // plain data
		atomicfile.WriteFile(filepath.Join(jd, StateFile), append(js, '\n'))
	}
	// The training function is called once the results are locked for this process and the
	// memory checked: from then on the job is running here.
	capture := func(ctx context.Context, c train.Config, o train.Options) (*train.Result, error) {
		mu.Lock()
		started = true
		mu.Unlock()
		writeState(State{State: Running, Time: opt.Now().UTC()})
		if opt.Progress != nil {
			inner := o.Progress
			o.Progress = func(p train.Progress) {
				if inner != nil {
					inner(p)
				}
				opt.Progress(p)
			}
		}
		r, err := opt.Train(ctx, c, o)
		mu.Lock()
		res = r
		mu.Unlock()
		return r, err
	}
	out, err := experiments.Run(ctx, cfg, experiments.Options{Out: jd, Train: capture, Inputs: []string{path},
		MemLimit: opt.MemLimit, Jobs: 1, Now: opt.Now})
	if err != nil {
		if errors.Is(err, outdir.ErrLocked) && !started {
			return nil, false, fmt.Errorf("%w: job %s: %w", ErrBusy, hash, err)
		}
		msg := err.Error()
		if ctx.Err() != nil {
			msg = fmt.Sprintf("stopped before the end (%v): %s", context.Cause(ctx), msg)
		}
		writeState(State{State: Failed, Time: opt.Now().UTC(), Error: msg})
		return nil, false, fmt.Errorf("job %s (%s seed %d): %w", hash, ij.Variant, ij.Seed, err)
	}
	end := opt.Now()
	r := &Record{Hash: hash, ConfigSHA256: sha256Hex(text), Variant: ij.Variant, Seed: ij.Seed, Values: ij.Values,
		Results: cfg.Experiment.Name, Metrics: metricsOf(res), GEMMBackend: matrix.Backend(), Host: host, Slurm: slurm,
		Start: start.UTC(), End: end.UTC(), WallSeconds: end.Sub(start).Seconds(), TrainSeconds: res.TrainTime.Seconds(),
		TokensPerSecond: res.TokensPerSecond}
	if filepath.Base(out.Dir) != r.Results {
		return nil, false, fmt.Errorf("sweep: job %s: results in %s, want %s", hash, out.Dir, r.Results)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		err = fmt.Errorf("sweep: job %s: its numbers cannot be recorded: %w", hash, err)
		writeState(State{State: Failed, Time: end.UTC(), Error: err.Error()})
		return nil, false, err
	}
	if err := atomicfile.WriteFile(filepath.Join(jd, JobFile), append(js, '\n')); err != nil {
		writeState(State{State: Failed, Time: end.UTC(), Error: err.Error()})
		return nil, false, fmt.Errorf("sweep: %w", err)
	}
	os.Remove(filepath.Join(jd, StateFile))
	return r, false, nil
}

// metricsOf takes the merged tables' numbers from a training's result.
func metricsOf(r *train.Result) Metrics {
	const mib = 1 << 20
	final := math.NaN()
	if len(r.EpochLoss) > 0 {
		final = r.EpochLoss[len(r.EpochLoss)-1]
	}
	ratio := 1.0
	if r.ExactBytes > 0 {
		ratio = r.SavedBytes / r.ExactBytes
	}
	return Metrics{DevAccuracy: r.DevAccuracy, MajorityAccuracy: r.MajorityAccuracy, FinalLoss: final, Steps: r.Steps,
		LinearKeptMiB: r.SavedBytes / mib, LinearExactMiB: r.ExactBytes / mib, MemoryRatio: ratio,
		AttentionKeptMiB: r.AttentionBytes / mib, TapeMiB: r.TapeBytes / mib, TrainableParams: r.TrainableParams}
}

// slurmTask returns the Slurm array job and task this process runs as ("1234_5") and the log
// file the sweep's script gives it, or "" and "" outside Slurm.
func slurmTask(dir string) (task, log string) {
	job, id := os.Getenv("SLURM_ARRAY_JOB_ID"), os.Getenv("SLURM_ARRAY_TASK_ID")
	if job == "" || id == "" {
		return "", ""
	}
	task = job + "_" + id
	abs, err := filepath.Abs(filepath.Join(dir, LogsDir, task+".out"))
	if err != nil {
		return task, ""
	}
	return task, abs
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
