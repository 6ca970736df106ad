// Package checkpoint saves and loads the encoder of package model as a checkpoint: its
// parameters in a safetensors file, that PyTorch, numpy and the Hugging Face tools read, and
// what is needed to rebuild and use it (the architecture, the tokenizer's vocabulary, the
// precision, where it comes from) in a JSON file beside it. It also saves and loads plain
// sets of named tensors, for the state of a training run that is to be resumed.
//
// # Files
//
// The checkpoint NAME is two files, NAME.safetensors and NAME.json ([Files]).
//
// NAME.safetensors holds one tensor per parameter of [model.Model.Params], under the
// parameter's name, with the parameter's shape [rows, cols] (a bias or LayerNorm vector is
// [1, n]), F32 for a float32 model and F64 for a float64 one. Linear weights are stored
// d_in × d_out, as the model computes y = x·W + b: the transpose of torch.nn.Linear.weight.
// The parameters are
//
//	tok_emb [vocab, dim]   pos_emb [max_len, dim]   seg_emb [segments, dim] (segments > 0)
//	blockL.ln1.g, blockL.ln1.b, blockL.ln2.g, blockL.ln2.b [1, dim]
//	blockL.q.w, blockL.k.w, blockL.v.w, blockL.o.w [dim, dim] and their .b [1, dim]
//	blockL.ffn_in.w [dim, ffn], blockL.ffn_in.b [1, ffn], blockL.ffn_out.w [ffn, dim], blockL.ffn_out.b [1, dim]
//	lnf.g, lnf.b [1, dim]
//	head.w [dim, classes], head.b [1, classes] (classes > 0)
//	mlm.dense.w [dim, dim], mlm.dense.b, mlm.ln.g, mlm.ln.b [1, dim], mlm.out.w [dim, vocab] (untied only), mlm.b [1, vocab] (MLM head)
//
// for L from 0 to blocks−1. The file's metadata holds "wtacrs.format" (the [Format]) and
// "wtacrs.meta_sha256", the SHA-256 of NAME.json, which ties the two files together: a JSON
// file edited or from another save is refused. The file is laid out as package
// internal/safetensors writes it: the same parameters give the same bytes.
//
// NAME.json is indented JSON:
//
//	{
//	  "format": "wtacrs-checkpoint/1",
//	  "architecture": {"type": "wtacrs-encoder", "vocab": 8192, "dim": 256, "heads": 4,
//	    "blocks": 4, "ffn": 1024, "max_len": 128, "classes": 2, "segments": 2,
//	    "pooling": "cls", "mlm_head": "none"},
//	  "precision": "float32",
//	  "keep_case": false,
//	  "vocab": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", …],
//	  "provenance": {"config_sha256": "…", "git_commit": "…", "steps": 3000, "tokens": 1536000,
//	    "data": "…", "from": "…", "created": "2025-01-02T03:04:05Z", "extra": {…}}
//	}
//
// (with one key or vocabulary token a line, as Go's json.MarshalIndent writes it). The
// vocabulary is in id
// order, as data.Tokenizer.WriteVocab writes it, or empty for a model without a tokenizer;
// "pooling" is "cls" or "mean" and "mlm_head" "none", "tied" or "untied" (the spellings of
// model.Pooling and model.MLMHead). Every key but "provenance" is required and no other
// is accepted. The format version is checked first, then the architecture type, so that a
// checkpoint of a later version or another model is named as such.
//
// # In PyTorch
//
//	import json
//	from safetensors.torch import load_file   # or safetensors.numpy
//	params = load_file("NAME.safetensors")    # {name: tensor}
//	meta = json.load(open("NAME.json"))
//	params["block0.q.w"].shape                 # (dim, dim): x @ W + b
//
// To write changed parameters back for this package to load, keep the names, shapes and
// dtype, and the metadata: with safe_open("NAME.safetensors", "pt") as f: md = f.metadata(),
// then save_file(params, "NAME.safetensors", metadata=md); the JSON file must stay as it is.
//
// # Training state
//
// [SaveTensors], [LoadTensors] and [LoadTensorsInto] write and read any named F32 and F64
// tensors with string metadata as one safetensors file, without the JSON file: the state of
// a run (optimiser moments, step counters, a gradient-norm cache). They stream the data
// through a small buffer, so a state of hundreds of megabytes costs no copy in memory.
//
// # Errors
//
// Errors wrap the sentinels of this package and name the file and the tensor or key:
// [ErrFormat], [ErrArchitecture], [ErrMissingTensor], [ErrShape], [ErrDType], [ErrTruncated]
// (also an ErrFormat) and [ErrInvalid]. A file that cannot be read gives the error of package
// internal/inputfile, under which errors.Is(err, fs.ErrNotExist) reports a missing one.
// Nothing is allocated from a size a file declares before it is checked against the files:
// the tensors against the size of the tensor file, and the model that Load builds from the
// architecture against the elements the tensor file holds (it needs at most a few times as
// many, with their gradients).
package checkpoint
