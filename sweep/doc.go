// Package sweep runs grids of experiments: a base experiment configuration (package
// experiments) and axes it varies — training seeds, methods, the kinds they apply to, and any
// key of the configuration by its dotted name (LoRA settings, init checkpoints, learning
// rates) — expanded into jobs of one training each, run locally or as a Slurm job array, and
// merged into tables of each variant's mean and 95% t interval over the seeds.
//
// # The sweep file
//
// A sweep file is an experiment configuration (its [experiment], [analysis] and [train]
// tables, the base of every job) with two more tables:
//
//	[sweep]
//	name = "accuracy"              # default: the file's base name
//	description = "..."
//	[sweep.slurm]                  # resources of one array task (flags of wtacrs sweep override them)
//	cpus = 2                       # --cpus-per-task
//	memory = "4G"                  # --mem
//	time = "02:00:00"              # --time
//	partition = "short"            # --partition
//	throttle = 8                   # --array=...%8
//	options = ["--account=lab"]    # further sbatch options
//
//	[axes]
//	seeds = [1, 2, 3]                          # train.seed: the replicate axis
//	methods = ["exact", "wtacrs:0.3"]          # as the rows of an accuracy run (train.Config.WithMethod)
//	kinds = ["q", "k", "v"]                    # the kinds a WTA-CRS method puts on WTA-CRS (default all)
//	[[axes.set]]                               # any key by its dotted name, one axis each
//	key = "train.init"
//	values = ["", "../../results/pretrain/model"]
//	labels = ["scratch", "pretrained"]         # names in the merged tables (default key=value)
//	[[axes.set]]
//	key = "train.lora"
//	absent = true                              # one more value, first: the key removed
//	values = [{rank = 8, alpha = 16.0}]        # the others: at least one
//	labels = ["full", "LoRA r=8"]              # absent first (default "no lora")
//
// The grid is the product of the axes; each point is a job, the base with the point's values,
// validated as an experiment configuration (strictly: an unknown key of [sweep] or [axes], and
// an axis key that names no key of a configuration, are errors naming the line). The seeds
// are the replicates: the jobs that differ only in their seed form a variant, named by its
// other axis values, and the merged tables have one row per variant.
//
// TOML has no null, so absent = true stands for the value "no key": its jobs are the base with
// the key removed, its default then applying, or for a table such as train.lora the table off
// (full fine-tuning against LoRA above). Removing creates nothing: a key the base does not
// hold leaves the base as it is. An axis whose only value is absent is refused (leave the key
// out of the base instead), and a job that needs the key (train.dev_path where the base gives
// train.train_path, say) fails validation like any other, the error naming the line of absent.
//
// # The sweep folder
//
// [Prepare] writes the folder DIR (wtacrs sweep puts it at -out/<name>):
//
//	DIR/sweep.toml                 a copy of the sweep file
//	DIR/sweep.json, DIR/jobs.tsv   the index: every job's hash, variant, seed and axis values, sorted by hash
//	DIR/jobs/<hash>/config.toml    the job's complete configuration ([experiments.Config.Encode])
//	DIR/jobs/<hash>/<name>/        its results, written by experiments.Run (manifest.json included)
//	DIR/jobs/<hash>/job.json       its manifest ([Record]): its numbers, written last
//	DIR/jobs/<hash>/state.json     while it runs, or after it failed ([State])
//	DIR/sweep.sbatch, DIR/logs/    the Slurm job array and its tasks' output
//	DIR/merged/                    the merged tables and figures ([Merge])
//
// A job's hash is the first 16 hexadecimal digits of the SHA-256 of its config.toml: its
// identity depends on its configuration alone, not on its place in the grid, so adding a
// value to an axis adds jobs and keeps the others (done ones included). A job is done when
// job.json is there and matches config.toml and its results directory is complete; any other
// job is run from the start, its results built in a temporary folder and renamed into place.
//
// # Running
//
// [RunJob] runs one job; it is the one job runner, called by [RunLocal] for a local sweep
// (several jobs at once) and by each task of the Slurm job array ([Script]: task i runs the
// i-th job of the index through wtacrs sweep run-job). [Status] reads what the folder says of
// every job: done, running (host, pid, Slurm task), failed (the error, the task's log) or
// pending.
//
// # Merging
//
// [Merge] writes DIR/merged from the jobs' job.json and CSV files alone, so a sweep run
// locally and the same sweep run through Slurm merge to byte-identical tables (for one GEMM
// backend and thread count, as every output of the project).
package sweep
