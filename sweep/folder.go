package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/outdir"
)

// The entries of a sweep folder DIR.
const (
	// IndexFile (DIR/sweep.json) is the sweep's [Index]: its axes and every job.
	IndexFile = "sweep.json"
	// JobsFile (DIR/jobs.tsv) lists the jobs, one a line: index, hash, variant, seed and the
	// value of each axis, tab-separated under a header line.
	JobsFile = "jobs.tsv"
	// SweepFile (DIR/sweep.toml) is a copy of the sweep file the folder was last prepared from.
	SweepFile = "sweep.toml"
	// ScriptFile (DIR/sweep.sbatch) is the Slurm job-array script ([WriteScript]).
	ScriptFile = "sweep.sbatch"
	// MergedDir (DIR/merged) holds the merged tables and figures ([Merge]).
	MergedDir = "merged"
	// LogsDir (DIR/logs) holds the logs of the Slurm array tasks.
	LogsDir = "logs"

	jobsDir = "jobs" // DIR/jobs/<hash>/: one folder per job
)

// The entries of a job folder DIR/jobs/<hash>.
const (
	// ConfigFile is the job's configuration; its SHA-256 gives the folder's name.
	ConfigFile = "config.toml"
	// JobFile is the job's manifest ([Record]), written last: a job is done when it is there,
	// matches the configuration and its results directory is complete.
	JobFile = "job.json"
	// StateFile records a job that is running or failed ([State]); it is removed when the job
	// is done.
	StateFile = "state.json"
)

// Index is the content of DIR/sweep.json.
type Index struct {
	// Sweep is the sweep's name ([Sweep.Name]).
	Sweep string `json:"sweep"`
	// Description is [Sweep.Description].
	Description string `json:"description,omitempty"`
	// Axes are [Sweep.Axes].
	Axes []string `json:"axes"`
	// Variants are [Sweep.Variants], in the grid's order (the order of the merged tables).
	Variants []string `json:"variants"`
	// Seeds are the seeds of the jobs, sorted.
	Seeds []uint64 `json:"seeds"`
	// Slurm are the resources of the sweep file's [sweep.slurm] table.
	Slurm Slurm `json:"slurm"`
	// Jobs are the jobs sorted by hash; a job's place is its Slurm array task id.
	Jobs []IndexJob `json:"jobs"`
}

// IndexJob is one job of an [Index].
type IndexJob struct {
	Index   int      `json:"index"`
	Hash    string   `json:"hash"`
	Variant string   `json:"variant"`
	Seed    uint64   `json:"seed"`
	Values  []string `json:"values"`
}

// Prepare writes the sweep folder dir for s: a copy of the sweep file, the index
// (sweep.json, jobs.tsv) and the configuration of every job (jobs/<hash>/config.toml), each
// atomically, and returns the index. dir must be absent, empty, or a sweep folder of the same
// sweep (its sweep.json names it): jobs already there are kept, done or not, and a job that is
// no longer in the sweep stays on disk but leaves the index. A job configuration that exists
// with other bytes (edited since) is an error wrapping ErrFolder; a dir that is not a sweep
// folder is refused with an error wrapping outdir.ErrRefused, and nothing is written.
func Prepare(s *Sweep, dir string) (*Index, []Job, error) {
	if err := checkFolder(dir, s.Name); err != nil {
		return nil, nil, err
	}
	jobs, err := s.Jobs(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, j := range jobs {
		path := filepath.Join(dir, jobsDir, j.Hash, ConfigFile)
		old, err := os.ReadFile(path)
		switch {
		case err == nil && !bytes.Equal(old, j.Text):
			return nil, nil, fmt.Errorf("%w: %s differs from the configuration whose hash names its folder (edited?); move the folder away", ErrFolder, path)
		case err == nil:
			continue
		case !errors.Is(err, os.ErrNotExist):
			return nil, nil, fmt.Errorf("sweep: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, nil, fmt.Errorf("sweep: %w", err)
		}
		if err := atomicfile.WriteFile(path, j.Text); err != nil {
			return nil, nil, fmt.Errorf("sweep: %w", err)
		}
	}
	idx := &Index{Sweep: s.Name, Description: s.Description, Axes: s.Axes(), Variants: s.Variants(), Slurm: s.Slurm}
	seeds := map[uint64]bool{}
	for _, j := range jobs {
		idx.Jobs = append(idx.Jobs, IndexJob{Index: j.Index, Hash: j.Hash, Variant: j.Variant, Seed: j.Seed, Values: j.Values})
		if !seeds[j.Seed] {
			seeds[j.Seed] = true
			idx.Seeds = append(idx.Seeds, j.Seed)
		}
	}
	slices.Sort(idx.Seeds)
	if err := atomicfile.WriteFile(filepath.Join(dir, SweepFile), s.Text); err != nil {
		return nil, nil, fmt.Errorf("sweep: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, JobsFile), idx.tsv()); err != nil {
		return nil, nil, fmt.Errorf("sweep: %w", err)
	}
	js, _ := json.MarshalIndent(idx, "", "  ") // plain data, cannot fail
	if err := atomicfile.WriteFile(filepath.Join(dir, IndexFile), append(js, '\n')); err != nil {
		return nil, nil, fmt.Errorf("sweep: %w", err)
	}
	return idx, jobs, nil
}

// checkFolder refuses a dir that exists, is not empty and is not a sweep folder of the sweep
// name.
func checkFolder(dir, name string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%w: cannot create the sweep folder %s: %w", outdir.ErrRefused, dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%w: %s: %w", outdir.ErrRefused, dir, err)
	case len(entries) == 0:
		return nil
	}
	idx, err := ReadIndex(dir)
	if err != nil {
		return fmt.Errorf("%w: %s exists and is not a sweep folder (%v); move it away or choose another -out", outdir.ErrRefused, dir, err)
	}
	if idx.Sweep != name {
		return fmt.Errorf("%w: %s is the folder of the sweep %q, not %q; choose another -out", outdir.ErrRefused, dir, idx.Sweep, name)
	}
	return nil
}

// tsv renders the index as jobs.tsv.
func (idx *Index) tsv() []byte {
	var b strings.Builder
	b.WriteString("index\thash\tvariant\tseed")
	for _, a := range idx.Axes[:len(idx.Axes)-1] {
		b.WriteString("\t" + a)
	}
	b.WriteString("\n")
	for _, j := range idx.Jobs {
		fmt.Fprintf(&b, "%d\t%s\t%s\t%d", j.Index, j.Hash, j.Variant, j.Seed)
		for _, v := range j.Values[:len(j.Values)-1] {
			b.WriteString("\t" + v)
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// ReadIndex reads DIR/sweep.json. Errors wrap ErrFolder.
func ReadIndex(dir string) (*Index, error) {
	js, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFolder, dir, err)
	}
	var idx Index
	if err := json.Unmarshal(js, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s is not a sweep index: %v", ErrFolder, filepath.Join(dir, IndexFile), err)
	}
	if idx.Sweep == "" || len(idx.Axes) == 0 {
		return nil, fmt.Errorf("%w: %s is not a sweep index", ErrFolder, filepath.Join(dir, IndexFile))
	}
	for i, j := range idx.Jobs {
		if j.Index != i || !hashRE.MatchString(j.Hash) || len(j.Values) != len(idx.Axes) {
			return nil, fmt.Errorf("%w: %s: job %d is malformed", ErrFolder, filepath.Join(dir, IndexFile), i)
		}
	}
	return &idx, nil
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// Job returns the job of the index with the given hash.
func (idx *Index) Job(hash string) (IndexJob, error) {
	for _, j := range idx.Jobs {
		if j.Hash == hash {
			return j, nil
		}
	}
	return IndexJob{}, fmt.Errorf("%w: the sweep %s has no job %q", ErrFolder, idx.Sweep, hash)
}

// JobDir returns the folder of the job with the given hash.
func JobDir(dir, hash string) string { return filepath.Join(dir, jobsDir, hash) }

// Record is a done job's manifest, DIR/jobs/<hash>/job.json.
type Record struct {
	// Hash is the job's hash; ConfigSHA256 the whole SHA-256 of its config.toml.
	Hash         string `json:"hash"`
	ConfigSHA256 string `json:"config_sha256"`
	// Variant, Seed and Values are the job's place in the sweep ([Job]).
	Variant string   `json:"variant"`
	Seed    uint64   `json:"seed"`
	Values  []string `json:"values"`
	// Results is the name of the job's results directory in its folder (the experiment name).
	Results string `json:"results"`
	// Metrics are the job's reproducible numbers, the merged tables' input.
	Metrics Metrics `json:"metrics"`
	// GEMMBackend is the matrix-multiply backend of the run (results differ between backends).
	GEMMBackend string `json:"gemm_backend"`
	// Host, Slurm, Start, End, TrainSeconds and TokensPerSecond say where and how fast it ran
	// (not reproducible, kept out of the merged tables).
	Host            string    `json:"host"`
	Slurm           string    `json:"slurm,omitempty"`
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	WallSeconds     float64   `json:"wall_seconds"`
	TrainSeconds    float64   `json:"train_seconds"`
	TokensPerSecond float64   `json:"tokens_per_second"`
}

// Metrics are the numbers of one training that the merged tables summarise.
type Metrics struct {
	DevAccuracy      float64 `json:"dev_accuracy"`
	MajorityAccuracy float64 `json:"majority_accuracy"`
	FinalLoss        float64 `json:"final_loss"`
	Steps            int     `json:"steps"`
	LinearKeptMiB    float64 `json:"linear_kept_mib"`
	LinearExactMiB   float64 `json:"linear_exact_mib"`
	MemoryRatio      float64 `json:"memory_ratio"`
	AttentionKeptMiB float64 `json:"attention_kept_mib"`
	TapeMiB          float64 `json:"tape_mib"`
	TrainableParams  int     `json:"trainable_params"`
}

// State is the content of a job's state.json: why a job that is not done is not.
type State struct {
	// State is "running" or "failed".
	State string `json:"state"`
	// Host and PID are where the job runs or ran; Slurm is the array job and task
	// ("1234_5") when it ran under Slurm.
	Host  string `json:"host"`
	PID   int    `json:"pid"`
	Slurm string `json:"slurm,omitempty"`
	// Log is the task's log file, when known (a Slurm task's output file).
	Log string `json:"log,omitempty"`
	// Time is when the job started (running) or failed.
	Time time.Time `json:"time"`
	// Error is the failure's message.
	Error string `json:"error,omitempty"`
}

// Job states of [JobStatus].
const (
	Done    = "done"
	Running = "running"
	Failed  = "failed"
	Pending = "pending"
)

// JobStatus is what a sweep folder says of one job.
type JobStatus struct {
	IndexJob
	// Status is Done, Running, Failed or Pending.
	Status string
	// Record is the job's manifest when Done.
	Record *Record
	// State is the job's state.json when Running or Failed.
	State *State
}

// ReadRecord returns the manifest of the job hash of the sweep folder dir when the job is
// done: its job.json parses and names the job, its config.toml still has the hash, and its
// results directory is complete ([experiments.CheckResultsDir]). Otherwise it returns nil and
// an error saying why not.
func ReadRecord(dir, hash string) (*Record, error) {
	jd := JobDir(dir, hash)
	js, err := os.ReadFile(filepath.Join(jd, JobFile))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(js, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(jd, JobFile), err)
	}
	conf, err := os.ReadFile(filepath.Join(jd, ConfigFile))
	if err != nil {
		return nil, err
	}
	if r.Hash != hash || hashOf(conf) != hash || r.ConfigSHA256 != sha256Hex(conf) || !nameRE.MatchString(r.Results) {
		return nil, fmt.Errorf("%s does not describe the job %s", filepath.Join(jd, JobFile), hash)
	}
	if err := experiments.CheckResultsDir(filepath.Join(jd, r.Results), r.Results); err != nil {
		return nil, err
	}
	return &r, nil
}

// readState returns a job's state.json, nil when there is none or it cannot be read.
func readState(dir, hash string) *State {
	js, err := os.ReadFile(filepath.Join(JobDir(dir, hash), StateFile))
	if err != nil {
		return nil
	}
	var st State
	if json.Unmarshal(js, &st) != nil || (st.State != Running && st.State != Failed) {
		return nil
	}
	return &st
}

// Status returns the status of every job of the index of the sweep folder dir, in the
// index's order.
func Status(dir string, idx *Index) []JobStatus {
	out := make([]JobStatus, len(idx.Jobs))
	for i, j := range idx.Jobs {
		st := JobStatus{IndexJob: j, Status: Pending}
		if r, err := ReadRecord(dir, j.Hash); err == nil {
			st.Status, st.Record = Done, r
		} else if s := readState(dir, j.Hash); s != nil {
			st.Status, st.State = s.State, s
			if s.State == Running && !s.alive() {
				st.Status = Failed
				st.State.Error = fmt.Sprintf("process %d on %s is gone without finishing (killed?)", s.PID, s.Host)
				if s.Slurm != "" {
					st.State.Error = fmt.Sprintf("Slurm task %s left the queue without finishing (killed at its time limit or for memory?)", s.Slurm)
				}
			}
		}
		out[i] = st
	}
	return out
}

// alive reports whether a running job's process may still be running: for a Slurm task,
// unless squeue says the task has left the queue; for a job on this host, whether its pid names
// a process; always for a job on another host.
func (s *State) alive() bool {
	if s.Slurm != "" {
		return !slurmGone(s.Slurm)
	}
	host, _ := os.Hostname()
	if s.Host != host || s.PID <= 0 {
		return true
	}
	return processAlive(s.PID)
}
