package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// stubTrain reports a few steps and one layer's norms, without training anything.
func stubTrain(ctx context.Context, cfg train.Config, opt train.Options) (*train.Result, error) {
	const steps, n = 12, 30
	for step := 1; step <= steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id := model.LayerID{Block: 0, Kind: model.Query}
		if opt.Observer != nil && opt.Observer.Wants(step, id) {
			o := train.Observation{Step: step, Layer: id, ActNorms: make([]float64, n), GradNorms: make([]float64, n)}
			for t := range n {
				o.ActNorms[t] = 1
				o.GradNorms[t] = float64((t*7+step)%n + 1)
			}
			opt.Observer.Observe(o)
		}
		if opt.Progress != nil {
			opt.Progress(train.Progress{Step: step, TotalSteps: steps, Loss: 0.7, Elapsed: time.Duration(step) * time.Second})
		}
	}
	return &train.Result{Config: cfg, Steps: steps, EpochDevAccuracy: []float64{0.5}, EpochLoss: []float64{0.7}, DevAccuracy: 0.5}, nil
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "exp.toml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

func TestRunCommand(t *testing.T) {
	experimentTrain = stubTrain
	defer func() { experimentTrain = train.Run }()
	cfg := writeConfig(t, "[analysis]\nevery = 4\n[train]\nepochs = 1\n")
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "-out", out, cfg}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "main: step 1/12 epoch 1 loss 0.7000", "plain progress lines when not a terminal")
	assert.NotContains(t, stdout.String(), "\r")
	assert.Contains(t, stdout.String(), "wrote "+filepath.Join(out, "exp"))
	assert.FileExists(t, filepath.Join(out, "exp", "curves_k0.1_exact.png"))

	// wtacrs plot redraws them.
	require.NoError(t, os.Remove(filepath.Join(out, "exp", "curves_k0.1_exact.png")))
	stdout.Reset()
	code = run([]string{"plot", filepath.Join(out, "exp")}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "curves_k0.1_exact.png")
	assert.FileExists(t, filepath.Join(out, "exp", "curves_k0.1_exact.png"))
}

func TestRunCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"run"}, "exactly one CONFIG"},
		{"missing file", []string{"run", filepath.Join(t.TempDir(), "nope.toml")}, "no such file"},
		{"unknown key", []string{"run", writeConfig(t, "[analysis]\n\nevry = 3\n")}, "line 3: unknown key analysis.evry"},
		{"wrong type", []string{"run", writeConfig(t, "[train]\nepochs = \"two\"\n")}, "line 2"},
		{"bad flag", []string{"run", "-bogus", "x.toml"}, "bogus"},
		{"plot nothing", []string{"plot", t.TempDir()}, "not a results directory"},
		{"plot no args", []string{"plot"}, "RESULTS_DIR"},
		{"analyze no args", []string{"analyze"}, "TRACE_DIR"},
		{"analyze empty", []string{"analyze", "-out", t.TempDir(), t.TempDir()}, "no <layer>/step<N>/"},
		{"analyze bad budget", []string{"analyze", "-budgets", "0.1,x", t.TempDir()}, "-budgets"},
		{"analyze budget range", []string{"analyze", "-budgets", "2", t.TempDir()}, "analysis.budgets[0]"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		assert.Equal(t, 2, code, tc.name)
		assert.Contains(t, stderr.String(), tc.want, tc.name)
	}
}

func TestProgressBarOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := newProgressBar(&buf, true)
	b.update("main", train.Progress{Step: 5, TotalSteps: 10, Loss: 0.5, Elapsed: 10 * time.Second})
	b.done()
	s := buf.String()
	assert.True(t, strings.HasPrefix(s, "\rmain"))
	assert.Contains(t, s, "[###############...............] step 5/10 epoch 1 loss 0.5000 ETA 10s")
	assert.True(t, strings.HasSuffix(s, "\n"))
}
