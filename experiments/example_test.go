package experiments_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wtacrs/wtacrs/experiments"
)

func ExampleParseConfig() {
	cfg, err := experiments.ParseConfig([]byte(`
[analysis]
every = 5
budgets = [0.1]

[train]
epochs = 1
`), "mine.toml", "mine")
	fmt.Println(cfg.Experiment.Name, cfg.Analysis.Every, cfg.Analysis.Budgets, cfg.Analysis.Kinds, cfg.Train.Epochs, err)

	_, err = experiments.ParseConfig([]byte("[analysis]\nevery = 5\nbudget = [0.1]\n"), "typo.toml", "typo")
	fmt.Println(err)
	// Output:
	// mine 5 [0.1] [q k v] 1 <nil>
	// typo.toml line 3: unknown key analysis.budget, want one of enabled, every, exact_every, budgets, kinds, blocks, sources, include_padding, all_curves
}

func ExampleRun() {
	cfg, _ := experiments.ParseConfig([]byte("[analysis]\nevery = 10\n[train]\nepochs = 2\n"), "demo.toml", "demo")
	out, _ := os.MkdirTemp("", "results")
	defer os.RemoveAll(out)
	// fakeTrain stands in for train.Run, the default trainer.
	o, err := experiments.Run(context.Background(), cfg, experiments.Options{Out: out, Train: fakeTrain(20, 0)})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(o.Dir), len(o.Records), o.Records[0].Layer, o.Records[0].Step, o.Records[0].Source, o.Records[0].Budget)
	// Output: demo 48 block0.q 1 exact 0.1
}
