package train

import (
	"fmt"
	"strings"

	"github.com/wtacrs/wtacrs/checkpoint"
	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// initSource is the checkpoint a fine-tuning starts from.
type initSource struct {
	path string
	meta checkpoint.Meta
	tok  *data.Tokenizer
}

// WithInit returns cfg with the model sizes of [InitKeys] left 0 set to those of the checkpoint
// cfg.Init when it names one, and cfg unchanged otherwise. It reads only the checkpoint's JSON
// meta. Errors wrap ErrConfig: an unreadable or foreign checkpoint, a size given that differs
// from the checkpoint's (a *tomlconf.FieldError naming the key), a max_len beyond the
// checkpoint's positions, a precision other than the checkpoint's.
func (cfg Config) WithInit() (Config, error) {
	cfg, _, err := cfg.withInit()
	return cfg, err
}

// withInit is [Config.WithInit], also returning the checkpoint read (nil without init).
func (cfg Config) withInit() (Config, *initSource, error) {
	if cfg.Init == "" {
		return cfg, nil, nil
	}
	src, err := readInit(cfg.Init)
	if err != nil {
		return cfg, nil, err
	}
	a := src.meta.Architecture
	for i, v := range []int{a.Dim, a.Heads, a.Blocks, a.FFN, a.Vocab} {
		p := cfg.sizes()[i]
		if *p != 0 && *p != v {
			return cfg, nil, &tomlconf.FieldError{Key: InitKeys[i], Value: tomlconf.Format(*p), Problem: "differs from the init checkpoint's",
				Want: fmt.Sprintf("%d (the checkpoint's), or the key left out", v), Related: []string{"init"}, Err: ErrConfig}
		}
		*p = v
	}
	if cfg.MaxLen > a.MaxLen {
		return cfg, nil, fmt.Errorf("%w: max_len %d exceeds the %d positions of the checkpoint %s", ErrConfig, cfg.MaxLen, a.MaxLen, cfg.Init)
	}
	if src.meta.Precision != "" && src.meta.Precision != cfg.Precision {
		return cfg, nil, fmt.Errorf("%w: precision %q differs from the checkpoint's %q (%s)", ErrConfig, cfg.Precision, src.meta.Precision, cfg.Init)
	}
	return cfg, src, nil
}

// readInit reads the meta and vocabulary of a checkpoint.
func readInit(path string) (*initSource, error) {
	meta, err := checkpoint.ReadMeta(path)
	if err != nil {
		return nil, fmt.Errorf("%w: init: %w", ErrConfig, err)
	}
	tok, err := data.NewTokenizer(meta.Vocab, meta.KeepCase)
	if err != nil {
		return nil, fmt.Errorf("%w: init %s: vocabulary: %w", ErrConfig, path, err)
	}
	if tok.VocabSize() != meta.Architecture.Vocab {
		return nil, fmt.Errorf("%w: init %s: %d vocabulary tokens for a model of %d", ErrConfig, path, tok.VocabSize(), meta.Architecture.Vocab)
	}
	return &initSource{path: path, meta: meta, tok: tok}, nil
}

// fineTuneHead reports the parameters a fine-tuning does not take from a checkpoint: the
// classification head (new) and a pretraining head (not part of the fine-tuned model).
func fineTuneHead(name string) bool {
	return strings.HasPrefix(name, "head.") || strings.HasPrefix(name, "mlm.")
}

// newModel builds the model of a run: drawn from cfg.Seed, then, with an init checkpoint, every
// encoder parameter overwritten by the checkpoint's, then, with LoRA, the adapters added (drawn
// from cfg.Seed too) and the base frozen.
func newModel[T matrix.Float](cfg Config, vocab, seqLen int, src *initSource) (*model.Model[T], error) {
	mcfg, err := modelConfig(cfg, vocab, seqLen)
	if err != nil {
		return nil, err
	}
	if src != nil {
		a := src.meta.Architecture
		mcfg.MaxLen, mcfg.Segments = a.MaxLen, a.Segments
		if seqLen > a.MaxLen {
			return nil, fmt.Errorf("%w: sequences of %d tokens for a checkpoint of %d positions", ErrConfig, seqLen, a.MaxLen)
		}
	}
	m, err := model.New[T](mcfg, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if src != nil {
		if _, err := checkpoint.LoadInto(src.path, m, fineTuneHead); err != nil {
			return nil, fmt.Errorf("%w: init: %w", ErrConfig, err)
		}
	}
	if cfg.LoRA != nil {
		if err := m.AddLoRA(cfg.LoRA.Model(), cfg.Seed); err != nil {
			return nil, fmt.Errorf("%w: lora: %w", ErrConfig, err)
		}
	}
	return m, nil
}
