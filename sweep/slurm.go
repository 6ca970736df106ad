package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/outdir"
)

// ErrSlurm reports a Slurm command that failed or is missing.
var ErrSlurm = errors.New("sweep: slurm")

// Script returns the sbatch job-array script of the sweep folder dir (an absolute path): one
// array task per job of idx, task i running job i (the hashes are written into the script,
// so a script already submitted keeps its jobs whatever is prepared later) with the job runner
// of a local sweep, bin sweep run-job DIR HASH; the resources of res; the output of task i of
// array job A in DIR/logs/A_i.out. The tasks inherit the submitting environment (sbatch's
// default), so WTACRS_BLAS and OPENBLAS_NUM_THREADS, which decide the GEMM's bytes, are those
// of the shell that submits; without OPENBLAS_NUM_THREADS there, OpenBLAS runs one thread per
// CPU of the task (not one per core of the node). bin and dir must be absolute and free of
// whitespace, quotes, '%' and control characters.
func Script(dir string, idx *Index, bin string, res Slurm) ([]byte, error) {
	for _, p := range []struct{ what, path string }{{"the sweep folder", dir}, {"the wtacrs program", bin}} {
		if !filepath.IsAbs(p.path) || strings.ContainsFunc(p.path, func(r rune) bool {
			return r <= ' ' || r == 0x7f || strings.ContainsRune(`'"\%$`+"`", r)
		}) {
			return nil, fmt.Errorf("%w: %s %q: want an absolute path without whitespace, quotes, '%%', '$', '`' or backslashes (sbatch reads it unquoted)",
				outdir.ErrRefused, p.what, p.path)
		}
	}
	if err := res.Validate(); err != nil {
		return nil, err
	}
	if len(idx.Jobs) == 0 {
		return nil, fmt.Errorf("%w: the sweep %s has no jobs", ErrFolder, idx.Sweep)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n# The Slurm job array of the sweep %s (%d jobs), written by wtacrs sweep -slurm.\n", idx.Sweep, len(idx.Jobs))
	fmt.Fprintf(&b, "# Task i runs job i of %s/%s with the job runner of a local sweep; a job that is done is\n", dir, JobsFile)
	b.WriteString("# skipped, so resubmitting reruns only what is not done (wtacrs sweep -slurm -submit -failed DIR,\n")
	fmt.Fprintf(&b, "# or sbatch --array=3,7 %s/%s). Progress: wtacrs sweep status %s\n", dir, ScriptFile, dir)
	fmt.Fprintf(&b, "#SBATCH --job-name=wtacrs-%s\n", idx.Sweep)
	fmt.Fprintf(&b, "#SBATCH --array=%s\n", ArraySpec(allIndices(len(idx.Jobs)), res.Throttle))
	fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", res.CPUs)
	if res.Memory != "" {
		fmt.Fprintf(&b, "#SBATCH --mem=%s\n", res.Memory)
	}
	if res.Time != "" {
		fmt.Fprintf(&b, "#SBATCH --time=%s\n", res.Time)
	}
	if res.Partition != "" {
		fmt.Fprintf(&b, "#SBATCH --partition=%s\n", res.Partition)
	}
	fmt.Fprintf(&b, "#SBATCH --output=%s/%s/%%A_%%a.out\n", dir, LogsDir)
	for _, o := range res.Options {
		fmt.Fprintf(&b, "#SBATCH %s\n", o)
	}
	b.WriteString("set -eu\n# OpenBLAS runs as many threads as the task has CPUs unless the submitting shell chose.\n")
	b.WriteString("export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}\nhashes=(\n")
	for _, j := range idx.Jobs {
		fmt.Fprintf(&b, "  %s # %d: %s seed %d\n", j.Hash, j.Index, strings.ReplaceAll(j.Variant, "\n", " "), j.Seed)
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "exec '%s' sweep run-job '%s' \"${hashes[$SLURM_ARRAY_TASK_ID]}\"\n", bin, dir)
	return []byte(b.String()), nil
}

// WriteScript writes [Script] to DIR/sweep.sbatch atomically, creates DIR/logs, and returns the
// script's path.
func WriteScript(dir string, idx *Index, bin string, res Slurm) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("sweep: %w", err)
	}
	text, err := Script(abs, idx, bin, res)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(abs, LogsDir), 0o755); err != nil {
		return "", fmt.Errorf("sweep: %w", err)
	}
	path := filepath.Join(abs, ScriptFile)
	if err := atomicfile.WriteFile(path, text); err != nil {
		return "", fmt.Errorf("sweep: %w", err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		return "", fmt.Errorf("sweep: %w", err)
	}
	return path, nil
}

// Submit submits the array tasks of the given job indices of the script with sbatch
// --parsable --array, and returns Slurm's job id. sbatch is looked up in PATH.
func Submit(script string, indices []int, throttle int) (string, error) {
	if len(indices) == 0 {
		return "", fmt.Errorf("%w: no task to submit", ErrSlurm)
	}
	sbatch, err := exec.LookPath("sbatch")
	if err != nil {
		return "", fmt.Errorf("%w: sbatch not found in PATH (not a Slurm login node?): %w", ErrSlurm, err)
	}
	cmd := exec.Command(sbatch, "--parsable", "--array="+ArraySpec(indices, throttle), script)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: sbatch: %w: %s", ErrSlurm, err, strings.TrimSpace(stderr.String()))
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out.String()), ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", fmt.Errorf("%w: sbatch printed %q, not a job id", ErrSlurm, out.String())
	}
	return id, nil
}

// ArraySpec writes sorted, distinct indices as sbatch --array does: ranges joined by commas
// ("0-3,7,9-10"), then "%throttle" when throttle > 0.
func ArraySpec(indices []int, throttle int) string {
	var parts []string
	for i := 0; i < len(indices); {
		j := i
		for j+1 < len(indices) && indices[j+1] == indices[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(indices[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", indices[i], indices[j]))
		}
		i = j + 1
	}
	spec := strings.Join(parts, ",")
	if throttle > 0 {
		spec += "%" + strconv.Itoa(throttle)
	}
	return spec
}

func allIndices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// slurmGone reports whether squeue says that the array task ("1234_5") is no longer queued or
// running: it lists nothing for it, or does not know its id. Without squeue, or when squeue
// fails otherwise (no cluster configured here), it cannot tell and reports false.
func slurmGone(task string) bool {
	squeue, err := exec.LookPath("squeue")
	if err != nil {
		return false
	}
	cmd := exec.Command(squeue, "-h", "-o", "%T", "-j", task)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return strings.Contains(stderr.String(), "Invalid job id")
	}
	return strings.TrimSpace(out.String()) == ""
}
