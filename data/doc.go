// Package data reads RTE-format sentence-pair classification data, tokenizes it and serves
// deterministic mini-batches to the trainer.
//
// # Files
//
// [ReadTSV] reads the GLUE layout: a header line naming the columns, then one example per line,
// fields separated by single tab characters, no quoting (a '"' is an ordinary character). The
// columns index, sentence1 and sentence2 are required; label is required for the train and dev
// splits and absent from the test split. Labels are "entailment" and "not_entailment". The real
// GLUE RTE train.tsv, dev.tsv and test.tsv files are read as they are. Every error names the file
// and the 1-based line and wraps [ErrFormat].
//
// A bundled RTE-format data set built from public-domain English text and WordNet ships inside
// the package ([Bundled]); docs/data.md gives its provenance and licences, and cmd/gendata
// regenerates it.
//
// # Tokens
//
// A [Tokenizer] is a lower-cased word-level vocabulary built from the training text
// ([TrainTokenizer]): words are maximal runs of letters and digits, every other visible character
// is a token of its own. The special tokens have fixed ids: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3.
// For masked-language modelling a vocabulary may also hold [MASK], always at id 4
// ([TokenizerConfig.Mask], [Tokenizer.MaskID]); without it a vocabulary is as it always was.
// [NewTokenizer] rebuilds a tokenizer from its token list (as a checkpoint stores it).
// A pair is encoded as [CLS] s1 [SEP] s2 [SEP], truncated longest-first to the maximum length and
// padded with [PAD]. The attention mask is true exactly on the non-padding positions; the trainer
// uses it both for attention and to give padding tokens zero weight in WTA-CRS sampling.
// Segment ids are 0 for [CLS], s1 and the first [SEP], 1 for s2 and the last [SEP], 0 on padding.
//
// # Batches
//
// [Encode] turns a data set into an [Encoded] one: fixed-length rows, row-major. Sample i of an
// Encoded set is its i-th example; that index is stable for the life of the set and is what a
// [Minibatch] reports in Indices, so the trainer can key its per-sample gradient-norm cache on it.
// A [Loader] visits every sample exactly once per epoch, in an order that depends only on the
// seed and the epoch number.
//
// # Determinism
//
// Reading, vocabulary building, encoding and shuffling involve no map iteration order, clock or
// global random state: the same inputs and seed give the same bytes.
package data
