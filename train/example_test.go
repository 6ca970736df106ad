package train_test

import (
	"context"
	"fmt"

	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// Train a tiny encoder with WTA-CRS at ratio 0.3 on every linear layer kind, on the built-in
// synthetic task (train.Run with a zero Options.Data uses the bundled RTE-format set instead).
func ExampleRun() {
	splits, err := train.SyntheticSplits(320, 200, 5, 32)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := train.DefaultConfig().WithAll(train.MethodWTACRS, 0.3)
	cfg.Dim, cfg.Heads, cfg.Blocks, cfg.FFNDim, cfg.MaxLen = 32, 2, 1, 64, 32
	cfg.Epochs, cfg.LearningRate, cfg.ConstantSteps = 3, 2e-3, 40
	res, err := train.Run(context.Background(), cfg, train.Options{Data: splits})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("steps:", res.Steps)
	fmt.Println("above majority:", res.DevAccuracy > res.MajorityAccuracy+0.2)
	fmt.Println("q layer keeps at most 35% of its input:", res.Memory[0].SavedBytes <= 0.35*res.Memory[0].ExactBytes)
	// Output:
	// steps: 60
	// above majority: true
	// q layer keeps at most 35% of its input: true
}

func ExampleParseConfig() {
	cfg, err := train.ParseConfig(`
epochs = 5
[layers]
q = { method = "wtacrs", ratio = 0.3 }
`, "example.toml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Epochs, cfg.Kind(model.Query), cfg.Kind(model.Key))
	_, err = train.ParseConfig("heads = 3\n", "bad.toml")
	fmt.Println(err)
	// Output:
	// 5 {wtacrs 0.3} {exact 0}
	// bad.toml line 1: heads = 3, want a divisor of dim = 128
}
