package experiments_test

import (
	"context"
	"encoding/csv"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/analysis"
	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/memlimit"
)

// TestMain removes the shared runs' directory after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// shared holds runs that several tests read (never change): each written once, since drawing
// the figures of a run is most of its cost.
var shared struct {
	once     sync.Once
	dir      string
	three    *experiments.Outcome // seedsRun with seeds 3, 1, 2
	one      *experiments.Outcome // smallRun: seed 1
	onceErrs error
}

// sharedRuns returns the shared run of three seeds and the one of one seed.
func sharedRuns(t *testing.T) (three, one *experiments.Outcome) {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "experiments-shared")
		if err != nil {
			shared.onceErrs = err
			return
		}
		shared.dir = dir
		run := func(out, text string) (*experiments.Outcome, error) {
			cfg, err := experiments.ParseConfig([]byte(text), "small.toml", "small")
			if err != nil {
				return nil, err
			}
			return experiments.Run(context.Background(), cfg, experiments.Options{Out: out, Train: fakeTrain(40, 0), MemLimit: memlimit.Unlimited})
		}
		three := strings.Replace(smallConfig, "description = \"Synthetic heavy-tailed norms.\"\n",
			"description = \"Synthetic heavy-tailed norms.\"\nseeds = [3, 1, 2]\n", 1)
		if shared.three, err = run(dir+"/three", three); err != nil {
			shared.onceErrs = err
			return
		}
		shared.one, shared.onceErrs = run(dir+"/one", smallConfig)
	})
	require.NoError(t, shared.onceErrs)
	return shared.three, shared.one
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// readCSV reads a whole CSV file.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	return rows
}

// statsOf returns the statistics of a small heavy-tailed weight vector that varies with i.
func statsOf(t *testing.T, i int) analysis.Stats {
	t.Helper()
	w := []float64{float64(10 * i), 3, 2, 1, 1, 1, 1, 1}
	s, err := analysis.Analyze(w, 4)
	require.NoError(t, err)
	return s
}
