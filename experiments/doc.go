// Package experiments runs the project's experiments from TOML configurations and writes their
// outputs: the analyses of package analysis on the per-token norms a training run of package
// train observes (Figures 10–12 of the WTA-CRS paper), the accuracy and memory comparison of
// training variants, and the same analyses on tensors saved as .npy files by another framework.
//
// # Configuration
//
// A configuration file has four tables, every key optional (see [Config] for the defaults and
// experiments/configs/reference.toml for a commented example):
//
//	[experiment]  name, description, seeds of the observed run
//	[analysis]    which steps, layers, norm sources and budgets k/|D| to analyse, and at which
//	              steps the exact variance ratios are computed
//	[compare]     training variants for the accuracy and memory comparison
//	[train]       the train.Config of the observed run (its own keys, e.g. [train.layers.q])
//
// Decoding is strict: an unknown key, a value of the wrong type and malformed TOML are errors
// wrapping [ErrConfig] that name the key and its line.
//
// # Outputs
//
// [Run] writes into <out>/<name>/: the configuration as run ([ConfigFile]), [ManifestFile], CSV
// files of every plotted number, the findings with their intervals across seeds
// ([FindingsFile]), the figures as PNG and SVG, and [SummaryFile].
//
// # Seeds
//
// The observed run is trained once per seed of experiment.seeds (default train.seed alone),
// up to [Options.Jobs] at once where GOMAXPROCS and the memory limit allow; each record carries
// its seed (a seed column in layers.csv, curves.csv and training.csv), and the rows are sorted by
// seed, so the outputs are the same bytes whatever the number of runs at once. Figures draw the
// mean over the seeds with a band from their minimum to their maximum; [Findings] reduce each
// quantity per seed and give the mean over the seeds with a 95% Student t interval (n − 1
// degrees of freedom).
//
// # Exact variance ratios
//
// The [Collector] is a train.MatrixObserver: at the recorded steps analysis.exact_every
// chooses it receives the layers' H and ∇Z and computes the exact closed-form ratio
// Var[WTA-CRS]/Var[CRS] (analysis.ExactVarianceRatio, the computation [AnalyzeTraces] applies to
// H.npy and dZ.npy) for both norm sources; the memory of those matrices is part of the run's
// estimate. The norms-only ratio (orthogonal_variance_ratio) is the orthogonal approximation.
//
// # Comparisons
//
// [WriteComparison] draws two or more results directories side by side (trained from scratch
// and pretrained, say): the top-10% mass and the share of |C| above the diagonal against the
// step and at matched smoothed training loss ([SmoothedLoss]).
// Before any training the destination is checked and locked (package internal/outdir): it must
// be absent or a results directory of this experiment ([CheckResultsDir]: its manifest lists
// every entry) that holds none of the run's inputs, and no other run may be writing it;
// otherwise the run is refused and nothing is touched. Everything is written into a hidden
// staging directory beside the target, which is exchanged with the target atomically only when
// complete: at every instant the target holds the earlier or the new outputs, and an
// interrupted run leaves earlier outputs intact. CSV files hold no
// timestamps or timings and format floats with strconv.FormatFloat(x, 'g', -1, 64), so one
// configuration and its seeds give byte-identical CSVs (the training itself is deterministic for
// a seed). Timings live only in manifest.json and summary.md. Columns added to a CSV file are
// appended after the earlier ones, and the readers accept files written before.
//
// # Trace input
//
// [AnalyzeTraces] reads tensors saved as .npy (any real or boolean dtype, C order; see
// internal/npyfile) in the layout
//
//	DIR/<layer>/step<N>/H.npy           tokens × d_in   the layer input H (optional with norms)
//	DIR/<layer>/step<N>/dZ.npy          tokens × d_out  the output gradient ∇Z
//	DIR/<layer>/step<N>/valid.npy       tokens          optional mask, non-zero = real token
//	DIR/<layer>/step<N>/act_norms.npy   tokens          optional ‖H_t‖ instead of H.npy
//	DIR/<layer>/step<N>/grad_norms.npy  tokens          optional ‖∇Z_t‖ instead of dZ.npy
//	DIR/<layer>/step<N>/cached_grad_norms.npy  tokens   optional cached ‖∇Z_t‖ of Algorithm 1
//
// where <layer> is block<B>.<kind> (kind q, k, v, o, ffn_in or ffn_out) and N ≥ 1 the step.
// Tokens are pooled over the batch (t = sample·seq_len + position). When both H and ∇Z are
// present the exact closed-form variance ratio WTA-CRS/CRS is computed as well (for the exact
// norms, and for the cached norms where cached_grad_norms.npy is given).
package experiments
