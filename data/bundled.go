package data

import (
	"bytes"
	"embed"
	"fmt"
)

//go:embed rte-synth/train.tsv rte-synth/dev.tsv
var bundledFS embed.FS

// BundledName is the name of the bundled data set, and BundledDir its folder in the repository.
const (
	BundledName = "rte-synth"
	BundledDir  = "data/rte-synth"
)

// Bundled returns a split ("train" or "dev") of the bundled RTE-format data set, compiled into
// the package. Any other split name returns an error wrapping ErrRange.
func Bundled(split string) (*Dataset, error) {
	if split != "train" && split != "dev" {
		return nil, fmt.Errorf("%w: bundled split %q (want train or dev)", ErrRange, split)
	}
	b, err := bundledFS.ReadFile("rte-synth/" + split + ".tsv")
	if err != nil {
		return nil, fmt.Errorf("data: bundled %s: %w", split, err)
	}
	return ParseTSV(bytes.NewReader(b), BundledName+"/"+split+".tsv")
}

// Config says where the data come from and how they are encoded, for [Load]. The zero value
// means: the bundled set, the default tokenizer trained on its train split, sequences of
// DefaultMaxLen.
//
// No configuration file has a table of its own for it: package train fills it from the keys
// train_path, dev_path, max_len and vocab_size of a training configuration (the top level of
// `wtacrs train CONFIG`, the [train] table of `wtacrs run CONFIG`), and Go callers set it
// directly.
type Config struct {
	// Train and Dev are the RTE-format TSV files of the two splits, both set or both empty
	// (the bundled set).
	Train, Dev string
	// MaxLen is the padded sequence length, at least 3 ([CLS] and two [SEP]); 0 means
	// DefaultMaxLen.
	MaxLen int
	// Vocab is an optional vocabulary file (see [ReadVocab]); empty builds the vocabulary from
	// the train split with Tokenizer.
	Vocab string
	// Tokenizer sets how that vocabulary is built.
	Tokenizer TokenizerConfig
	// Given, when not nil, is the tokenizer both splits are encoded with (a checkpoint's);
	// Vocab and Tokenizer are then ignored.
	Given *Tokenizer
	// MaxTrain and MaxDev, when positive, keep only the first MaxTrain training and MaxDev dev
	// examples. The vocabulary is still built from the whole train split; only the kept
	// examples are encoded (so that memory follows them, not the files).
	MaxTrain, MaxDev int
}

// Splits is a loaded, tokenized train/dev pair.
type Splits struct {
	// Tokenizer is the tokenizer both splits were encoded with: read from Config.Vocab, or built
	// from the train split.
	Tokenizer *Tokenizer
	// Train and Dev are the examples of the two splits as read, in file order.
	Train, Dev *Dataset
	// TrainEnc and DevEnc are the encoded sets; their row i is example i of Train and Dev.
	TrainEnc, DevEnc *Encoded
}

// Load reads the splits named by cfg (the bundled ones when Train and Dev are both empty), builds
// or reads the vocabulary and encodes both splits. Setting only one of Train and Dev, a negative
// MaxLen, an unlabelled split or any reading error returns an error (ErrRange, ErrFormat or the
// os error, wrapped with the file name).
func Load(cfg Config) (*Splits, error) {
	if cfg.MaxLen == 0 {
		cfg.MaxLen = DefaultMaxLen
	}
	if cfg.MaxLen < 3 {
		return nil, fmt.Errorf("%w: max_len %d, need at least 3", ErrRange, cfg.MaxLen)
	}
	if (cfg.Train == "") != (cfg.Dev == "") {
		return nil, fmt.Errorf("%w: set both train and dev, or neither for the bundled set", ErrRange)
	}
	s := &Splits{}
	var err error
	if cfg.Train == "" {
		if s.Train, err = Bundled("train"); err != nil {
			return nil, err
		}
		if s.Dev, err = Bundled("dev"); err != nil {
			return nil, err
		}
	} else {
		if s.Train, err = ReadTSV(cfg.Train); err != nil {
			return nil, err
		}
		if s.Dev, err = ReadTSV(cfg.Dev); err != nil {
			return nil, err
		}
	}
	for _, d := range []*Dataset{s.Train, s.Dev} {
		if !d.Labelled {
			return nil, fmt.Errorf("%w: %s has no label column", ErrFormat, d.Name)
		}
	}
	switch {
	case cfg.Given != nil:
		s.Tokenizer = cfg.Given
	case cfg.Vocab != "":
		s.Tokenizer, err = LoadVocab(cfg.Vocab, cfg.Tokenizer.KeepCase)
	default:
		s.Tokenizer, err = TrainTokenizer(s.Train.Texts(), cfg.Tokenizer)
	}
	if err != nil {
		return nil, err
	}
	if s.TrainEnc, err = Encode(firstN(s.Train, cfg.MaxTrain), s.Tokenizer, cfg.MaxLen); err != nil {
		return nil, err
	}
	if s.DevEnc, err = Encode(firstN(s.Dev, cfg.MaxDev), s.Tokenizer, cfg.MaxLen); err != nil {
		return nil, err
	}
	return s, nil
}

// firstN returns d with only its first n examples when 0 < n < len(d.Examples), else d.
func firstN(d *Dataset, n int) *Dataset {
	if n <= 0 || n >= len(d.Examples) {
		return d
	}
	c := *d
	c.Examples = d.Examples[:n]
	return &c
}
