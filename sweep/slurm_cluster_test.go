package sweep

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlurmCluster runs the example sweep (4 jobs) through a real one-node Slurm cluster that
// scripts/slurm/local-cluster.sh starts on this machine, and checks that its merged tables are
// the bytes of the same sweep run locally; on the way, a task made to fail is listed with its
// log and resubmitted alone. It needs root, Slurm and munge (scripts/slurm/local-cluster.sh
// install) and runs only with WTACRS_SLURM_TEST=1:
//
//	WTACRS_SLURM_TEST=1 go test -run TestSlurmCluster -v ./sweep/
//
// It stops every daemon it started, by the pids the script recorded.
func TestSlurmCluster(t *testing.T) {
	if os.Getenv("WTACRS_SLURM_TEST") != "1" {
		t.Skip("WTACRS_SLURM_TEST=1 runs it (root, and Slurm and munge installed: scripts/slurm/local-cluster.sh install)")
	}
	start := time.Now()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "wtacrs")
	build := exec.Command("go", "build", "-o", bin, "../cmd/wtacrs")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	// The cluster, on a free pair of ports so that another cluster of this machine is left alone.
	state := filepath.Join(tmp, "slurm")
	port := freePorts(t)
	script, err := filepath.Abs("../scripts/slurm/local-cluster.sh")
	require.NoError(t, err)
	// One GEMM thread count for both runs (OpenBLAS's bytes depend on it).
	env := append(os.Environ(), "SLURM_CONF="+filepath.Join(state, "slurm.conf"), fmt.Sprintf("WTACRS_SLURM_PORT=%d", port), "OPENBLAS_NUM_THREADS=1")
	sh := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = env
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		err := cmd.Run()
		require.NoError(t, err, "%s: %s", strings.Join(args, " "), b.String())
		return b.String()
	}
	t.Cleanup(func() {
		cmd := exec.Command("bash", script, "stop", state)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("stopping the cluster: %v: %s", err, out)
		}
		for _, d := range []string{"slurmd", "slurmctld", "munged"} {
			assert.NoFileExists(t, filepath.Join(state, d+".pid"), "%s stopped", d)
		}
	})
	t.Log(sh("bash", script, "start", state))
	up := time.Now()

	example, err := filepath.Abs("../experiments/sweeps/example.toml")
	require.NoError(t, err)
	local, remote := filepath.Join(tmp, "local"), filepath.Join(tmp, "slurm-out")
	sh(bin, "sweep", "-jobs", "2", "-out", local, example)
	localDone := time.Now()

	// Prepare the Slurm run, and make one job fail: a file of the user's where its results go.
	sh(bin, "sweep", "-slurm", "-out", remote, example)
	dir := filepath.Join(remote, "example")
	idx, err := ReadIndex(dir)
	require.NoError(t, err)
	require.Len(t, idx.Jobs, 4)
	victim := idx.Jobs[1]
	blocker := filepath.Join(JobDir(dir, victim.Hash), idx.Sweep)
	require.NoError(t, os.WriteFile(blocker, []byte("the user's file\n"), 0o644))

	submitted := sh(bin, "sweep", "-slurm", "-submit", "-out", remote, example)
	t.Log(submitted)
	assert.Contains(t, submitted, "tasks 0-3")
	wait(t, env, jobID(t, submitted))
	status := sh(bin, "sweep", "status", dir)
	t.Log(status)
	assert.Contains(t, status, "3 done, 0 running, 1 failed, 0 pending")
	assert.Contains(t, status, victim.Hash)
	log := filepath.Join(dir, LogsDir, jobID(t, submitted)+"_1.out")
	assert.Contains(t, status, "log: "+log)
	text, err := os.ReadFile(log)
	require.NoError(t, err)
	assert.Contains(t, string(text), "is not a results directory", "the task's log has the error")

	// Resubmit the failed task alone.
	require.NoError(t, os.Remove(blocker))
	again := sh(bin, "sweep", "-slurm", "-submit", "-failed", dir)
	t.Log(again)
	assert.Contains(t, again, "tasks 1;")
	wait(t, env, jobID(t, again))
	status = sh(bin, "sweep", "status", dir)
	assert.Contains(t, status, "4 done, 0 running, 0 failed, 0 pending")
	sh(bin, "sweep", "merge", dir)
	slurmDone := time.Now()

	want, got := mergedTables(t, filepath.Join(local, "example")), mergedTables(t, dir)
	assert.Contains(t, want, "dev_accuracy.csv")
	assert.Contains(t, want, filepath.Join("02-WTA-CRS_0.3", "curves.csv"))
	sameTables(t, want, got, "the local and the Slurm run merge to the same bytes")
	t.Logf("build and cluster up in %s, local sweep %s, Slurm sweep with the resubmission %s, total %s",
		up.Sub(start).Round(100*time.Millisecond), localDone.Sub(up).Round(100*time.Millisecond),
		slurmDone.Sub(localDone).Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
}

// jobID returns the job id of wtacrs sweep -submit's output.
func jobID(t *testing.T, out string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "submitted array job ")
	require.True(t, ok, out)
	id, _, _ := strings.Cut(rest, ":")
	return id
}

// wait polls squeue until the array job has left the queue (at most 3 minutes); squeue
// fails for a job the controller has forgotten, which has left it too.
func wait(t *testing.T, env []string, id string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		cmd := exec.Command("squeue", "-h", "-j", id, "-o", "%i %T")
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("array job %s still queued after 3 minutes", id)
}

// freePorts returns a port p such that p and p+1 are free now.
func freePorts(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two free ports in a row")
	return 0
}
