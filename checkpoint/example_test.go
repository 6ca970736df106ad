package checkpoint_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/model"
)

// A pretrained encoder with an MLM head is saved with its tokenizer, described from its JSON
// file, loaded whole, and loaded into a classifier that keeps its own new head.
func Example() {
	dir, err := os.MkdirTemp("", "checkpoint-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pretrained")

	tok, err := data.TrainTokenizer([]string{"a cat sat", "a dog ran"}, data.TokenizerConfig{})
	if err != nil {
		panic(err)
	}
	cfg := model.Config{Vocab: tok.VocabSize(), Dim: 8, Heads: 2, Blocks: 1, FFN: 16, MaxLen: 16, MLM: model.MLMTied}
	pre, err := model.New[float32](cfg, 1)
	if err != nil {
		panic(err)
	}
	err = checkpoint.Save(path, pre, checkpoint.Meta{
		Vocab:      checkpoint.VocabOf(tok),
		KeepCase:   tok.KeepCase(),
		Provenance: checkpoint.Provenance{Steps: 1000, Data: "two sentences"},
	})
	fmt.Println("save:", err)

	meta, err := checkpoint.ReadMeta(path)
	fmt.Println(meta.Format, meta.Precision, meta.Architecture.Dim, meta.Architecture.MLM, len(meta.Vocab), meta.Provenance.Steps, err)

	m, _, err := checkpoint.Load[float32](path + ".safetensors")
	fmt.Println("load:", len(m.Params), m.Param("tok_emb").W.Data[0] == pre.Param("tok_emb").W.Data[0], err)

	fine := meta.Architecture
	fine.MLM, fine.Classes = model.MLMNone, 2
	clf, err := model.New[float32](fine, 2)
	if err != nil {
		panic(err)
	}
	_, err = checkpoint.LoadInto(path, clf, func(name string) bool { return strings.HasPrefix(name, "head.") })
	fmt.Println("fine-tune from it:", err)

	_, _, err = checkpoint.Load[float64](path)
	fmt.Println(errors.Is(err, checkpoint.ErrDType))
	// Output:
	// save: <nil>
	// wtacrs-checkpoint/1 float32 8 tied 9 1000 <nil>
	// load: 25 true <nil>
	// fine-tune from it: <nil>
	// true
}
