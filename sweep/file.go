package sweep

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// Errors of this package, wrapped with context.
var (
	// ErrConfig reports a malformed or invalid sweep file. A sweep file is an experiment
	// configuration with axes, so it wraps experiments.ErrConfig too.
	ErrConfig = fmt.Errorf("sweep: invalid sweep file: %w", experiments.ErrConfig)
	// ErrFolder reports a sweep folder that cannot be used: not one this package wrote, a job
	// configuration edited since, an unknown job.
	ErrFolder = errors.New("sweep: unusable sweep folder")
	// ErrIncomplete reports a merge of a sweep whose jobs are not all done.
	ErrIncomplete = errors.New("sweep: jobs not done")
	// ErrFailed reports jobs that failed in a local run.
	ErrFailed = errors.New("sweep: jobs failed")
)

// Sweep is a parsed sweep file: the base experiment configuration and the axes its jobs vary.
// [Load] and [Parse] return it validated, every job's configuration included.
type Sweep struct {
	// Name is [sweep] name: the sweep folder's name and the experiment name of every job.
	// Default: the file's base name without extension.
	Name string
	// Description is [sweep] description, copied to the merged summary. Default "".
	Description string
	// Slurm is the [sweep.slurm] table.
	Slurm Slurm
	// Seeds are axes.seeds: train.seed of the jobs, the replicate axis the merged tables
	// summarise over. Empty: the base's train.seed alone.
	Seeds []uint64
	// Methods are axes.methods, in the file's order. Empty: the base's layers as they are.
	Methods []Method
	// Kinds are axes.kinds, the layer kinds a WTA-CRS method applies to; empty: all six (under
	// LoRA the adapted ones).
	Kinds []model.Kind
	// Sets are the [[axes.set]] axes, in the file's order.
	Sets []Set
	// File is the sweep file's name as given to [Parse].
	File string
	// Text is the sweep file's text.
	Text []byte

	dir   string         // the folder relative paths are resolved against
	base  map[string]any // the experiment tables of the file
	index *tomlconf.Index
	jobs  []planned // every job, in grid order
}

// Method is one value of axes.methods: "exact" (every layer kind exact, attention products
// exact) or "wtacrs:RATIO" (the kinds of axes.kinds on WTA-CRS at RATIO, the others exact;
// with [train.attention] the attention products sampled at RATIO too), as the rows of an
// accuracy run train ([train.Config.WithMethod]).
type Method struct {
	// Method is train.MethodExact or train.MethodWTACRS.
	Method string
	// Ratio is the WTA-CRS ratio in (0, 1]; 0 for exact.
	Ratio float64
}

// Label names the method as the accuracy tables do: "exact" or "WTA-CRS@0.3".
func (m Method) Label() string {
	if m.Method == train.MethodExact {
		return train.MethodExact
	}
	return fmt.Sprintf("WTA-CRS@%g", m.Ratio)
}

// Set is one [[axes.set]] axis: a key of the experiment configuration by its dotted name
// ("train.learning_rate", "train.lora.rank", "train.init", "analysis.budgets") and the values
// it takes, each a TOML value of the key's type (a table for a table key such as
// "train.layers.q" or "train.lora").
//
// With absent = true the axis takes one more value, first: the key absent, removed from the
// job's configuration (so that its default applies, or, for a table such as train.lora, the
// table is off). Removing creates nothing: a key the base does not hold, or one inside a table
// it does not hold, leaves the base as it is. TOML has no null; this is how an axis compares
// full fine-tuning with LoRA:
//
//	[[axes.set]]
//	key = "train.lora"
//	absent = true                              # first value: no [train.lora], full fine-tuning
//	values = [{rank = 8, alpha = 16.0}]
//	labels = ["full", "LoRA r=8"]              # default "no lora", "lora={alpha = 16, rank = 8}"
type Set struct {
	// Key is the dotted key, bare parts only.
	Key string
	// Absent adds the key's absence as the axis' first value.
	Absent bool
	// Values are the parsed TOML values, each once, at least one (an axis whose only value is
	// the absent one is refused).
	Values []any
	// Labels name the axis' values in the merged tables, one per value of [Set.Len] in its
	// order (the absent one first); default "no <last part of key>" for the absent value and
	// "<last part of key>=<value>" for the others.
	Labels []string
}

// Len returns the number of values the axis takes: those of Values, and one more when Absent.
func (set Set) Len() int {
	if set.Absent {
		return len(set.Values) + 1
	}
	return len(set.Values)
}

// at maps the j-th value of the axis, 0 ≤ j < [Set.Len], to its index in Values, or reports
// false for the absent value.
func (set Set) at(j int) (int, bool) {
	if set.Absent {
		if j == 0 {
			return 0, false
		}
		j--
	}
	return j, true
}

// value returns the j-th value of the axis, 0 ≤ j < [Set.Len], and whether the key is present:
// false for the absent value.
func (set Set) value(j int) (any, bool) {
	k, present := set.at(j)
	if !present {
		return nil, false
	}
	return set.Values[k], true
}

// valueKey is the key of the sweep file, relative to the axis' [[axes.set]] table, that gives
// its j-th value (0 ≤ j < [Set.Len]): ".absent" or ".values[k]".
func (set Set) valueKey(j int) string {
	k, present := set.at(j)
	if !present {
		return ".absent"
	}
	return tomlconf.Elem(".values", k)
}

// Slurm is the [sweep.slurm] table: the resources of one array task, each overridable by a
// flag of wtacrs sweep -slurm.
type Slurm struct {
	// CPUs is --cpus-per-task, ≥ 1. Default 1.
	CPUs int `toml:"cpus"`
	// Memory is --mem, the memory of one task: a number with an optional K, M, G or T suffix
	// (Slurm's megabytes without one). Default "" (the cluster's default).
	Memory string `toml:"memory"`
	// Time is --time, the task's time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or
	// D-HH:MM:SS. Default "" (the partition's limit).
	Time string `toml:"time"`
	// Partition is --partition. Default "" (the cluster's default partition).
	Partition string `toml:"partition"`
	// Throttle, when positive, is the most array tasks running at once (--array=...%N).
	// Default 0 (no limit).
	Throttle int `toml:"throttle"`
	// Options are further sbatch options, one "--name=value" each (--account=lab, say).
	// Default [].
	Options []string `toml:"options"`
}

// FillDefaults gives a [sweep.slurm] table without cpus one CPU.
func (s *Slurm) FillDefaults(given func(string) bool) {
	if !given("cpus") {
		s.CPUs = 1
	}
}

var (
	memoryRE    = regexp.MustCompile(`^[0-9]+[KMGT]?$`)
	timeRE      = regexp.MustCompile(`^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$`)
	partitionRE = regexp.MustCompile(`^[A-Za-z0-9_.,-]*$`)
	optionRE    = regexp.MustCompile(`^--[a-z][a-z0-9-]*(=[^\x00-\x1f'"\\]*)?$`)
	nameRE      = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	keyPartRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// Validate returns nil or a *tomlconf.FieldError wrapping ErrConfig for the first invalid key,
// named from the top of the sweep file ("sweep.slurm.time").
func (s Slurm) Validate() error {
	bad := func(key string, v any, want string) error {
		return &tomlconf.FieldError{Key: "sweep.slurm." + key, Value: tomlconf.Format(v), Want: want, Err: ErrConfig}
	}
	switch {
	case s.CPUs < 1:
		return bad("cpus", s.CPUs, "≥ 1")
	case s.Memory != "" && !memoryRE.MatchString(s.Memory):
		return bad("memory", s.Memory, `a number with an optional K, M, G or T suffix, such as "4G"`)
	case s.Time != "" && !timeRE.MatchString(s.Time):
		return bad("time", s.Time, `minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, such as "02:00:00"`)
	case !partitionRE.MatchString(s.Partition):
		return bad("partition", s.Partition, "a partition name (letters, digits, '_', '.', ',' or '-')")
	case s.Throttle < 0:
		return bad("throttle", s.Throttle, "≥ 0 (0: no limit)")
	}
	for i, o := range s.Options {
		if !optionRE.MatchString(o) {
			return &tomlconf.FieldError{Key: tomlconf.Elem("sweep.slurm.options", i), Value: tomlconf.Format(o),
				Want: `an sbatch option "--name" or "--name=value" without quotes, backslashes or control characters`, Err: ErrConfig}
		}
	}
	return nil
}

// sweepFile is the layout of a sweep file for tomlconf: the sweep's own tables, typed, and the
// experiment tables kept as parsed.
type sweepFile struct {
	Sweep struct {
		Name        string `toml:"name"`
		Description string `toml:"description"`
		Slurm       Slurm  `toml:"slurm"`
	} `toml:"sweep"`
	Axes struct {
		Seeds   []uint64     `toml:"seeds"`
		Methods []string     `toml:"methods"`
		Kinds   []model.Kind `toml:"kinds"`
		Set     []setTable   `toml:"set"`
	} `toml:"axes"`
	Experiment any `toml:"experiment"`
	Analysis   any `toml:"analysis"`
	Compare    any `toml:"compare"`
	Train      any `toml:"train"`
	Accuracy   any `toml:"accuracy"`
}

// setTable is the layout of one [[axes.set]] table, its values kept as parsed.
type setTable struct {
	Key    string   `toml:"key"`
	Absent bool     `toml:"absent"`
	Values any      `toml:"values"`
	Labels []string `toml:"labels"`
}

// Load reads and parses a sweep file of at most 1 MiB (see [Parse]); the sweep's name
// defaults to the file's base name without extension, and relative paths in it (train.init,
// train.train_path, train.dev_path, in the base or as axis values) are relative to its folder.
func Load(path string) (*Sweep, error) {
	text, err := tomlconf.ReadFile(path, ErrConfig)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return Parse([]byte(text), path, name, filepath.Dir(path))
}

// Parse decodes a sweep file and expands it into its jobs, each validated as an experiment
// configuration. file names the text in errors, defaultName is the sweep's name when [sweep]
// gives none, and dir is the folder relative paths are resolved against.
//
// The file holds the tables of an experiment configuration (the base: [experiment],
// [analysis], [train] with its sub-tables) and two more:
//
//	[sweep]        name, description, [sweep.slurm] (cpus, memory, time, partition, throttle, options)
//	[axes]         seeds, methods ("exact", "wtacrs:0.3"), kinds, and [[axes.set]] key, absent, values, labels
//
// Every job is the base with one value of each axis; the grid is the product of the axes.
// A job is one training: the base may not give experiment.seeds, [[compare.variant]] or an
// [accuracy] table (their seeds and methods are axes here).
//
// Every error is a *tomlconf.FieldError (or a tomlconf.Errors list of them) wrapping ErrConfig
// that names the file, the key from the top of the file and its line: malformed TOML, an
// unknown key of [sweep] or [axes], a value of the wrong type, an axis key that names no key of
// an experiment configuration (with the line of its [[axes.set]] table), and every invalid
// value the experiment configuration of a job would have (with the line of the axis value
// that makes it invalid, or of the base's key).
func Parse(text []byte, file, defaultName, dir string) (*Sweep, error) {
	var f sweepFile
	m, err := tomlconf.Decode(string(text), file, &f, ErrConfig)
	if err != nil {
		return nil, err
	}
	s := &Sweep{Name: f.Sweep.Name, Description: f.Sweep.Description, Slurm: f.Sweep.Slurm, File: file, Text: text,
		dir: dir, index: m.Index, base: map[string]any{}}
	if !m.Given("sweep.name") {
		s.Name = defaultName
	}
	if !m.Given("sweep.slurm") {
		s.Slurm.CPUs = 1
	}
	for name, t := range map[string]any{"experiment": f.Experiment, "analysis": f.Analysis, "compare": f.Compare, "train": f.Train, "accuracy": f.Accuracy} {
		if t != nil {
			s.base[name] = t
		}
	}
	if err := s.check(f); err != nil {
		return nil, m.Locate(err)
	}
	for i, v := range f.Axes.Methods {
		meth, err := parseMethod(v)
		if err != nil {
			return nil, m.Locate(&tomlconf.FieldError{Key: tomlconf.Elem("axes.methods", i), Value: tomlconf.Format(v), Want: err.Error(), Err: ErrConfig})
		}
		s.Methods = append(s.Methods, meth)
	}
	s.Seeds, s.Kinds = f.Axes.Seeds, f.Axes.Kinds
	for i, a := range f.Axes.Set {
		set, err := s.parseSet(i, a, m.Given(tomlconf.Elem("axes.set", i)+".labels"))
		if err != nil {
			return nil, m.Locate(err)
		}
		s.Sets = append(s.Sets, set)
	}
	if err := s.checkAxes(); err != nil {
		return nil, m.Locate(err)
	}
	if err := s.expand(); err != nil {
		return nil, err
	}
	return s, nil
}

// check validates the [sweep] table and what the base may not hold.
func (s *Sweep) check(f sweepFile) error {
	bad := func(key string, v any, want string) error {
		return &tomlconf.FieldError{Key: key, Value: tomlconf.Format(v), Want: want, Err: ErrConfig}
	}
	if !nameRE.MatchString(s.Name) || s.Name == "." || s.Name == ".." {
		return bad("sweep.name", s.Name, "letters, digits, '-', '_' or '.' (default: the file's base name)")
	}
	if slices.Contains([]string{ConfigFile, JobFile, StateFile}, s.Name) {
		return bad("sweep.name", s.Name, "a name other than those of the files of a job's folder (config.toml, job.json, state.json)")
	}
	if err := s.Slurm.Validate(); err != nil {
		return err
	}
	if _, ok := s.base["accuracy"]; ok {
		return &tomlconf.FieldError{Key: "accuracy", Problem: "a sweep job is one training; no table", Want: "axes.seeds for accuracy.seeds, axes.methods for its ratios (\"wtacrs:0.3\", with \"exact\" for its exact row) and axes.kinds for accuracy.kinds", Err: ErrConfig}
	}
	if _, ok := s.base["compare"]; ok {
		return &tomlconf.FieldError{Key: "compare", Problem: "a sweep job is one training; no table", Want: "the variants as axes.methods or [[axes.set]] values", Err: ErrConfig}
	}
	if e, ok := s.base["experiment"].(map[string]any); ok {
		if _, ok := e["seeds"]; ok {
			return &tomlconf.FieldError{Key: "experiment.seeds", Problem: "a sweep job is one training; no key", Want: "axes.seeds", Err: ErrConfig}
		}
		if _, ok := e["name"]; ok {
			return &tomlconf.FieldError{Key: "experiment.name", Problem: "the jobs are named by the sweep; no key", Want: "sweep.name", Err: ErrConfig}
		}
	}
	seen := map[uint64]int{}
	for i, v := range f.Axes.Seeds {
		if v > math.MaxInt64 {
			return bad(tomlconf.Elem("axes.seeds", i), v, fmt.Sprintf("≤ %d (TOML integers are signed 64-bit)", int64(math.MaxInt64)))
		}
		if j, dup := seen[v]; dup {
			return bad(tomlconf.Elem("axes.seeds", i), v, fmt.Sprintf("each seed once (axes.seeds[%d] is %d too)", j, v))
		}
		seen[v] = i
	}
	for i, k := range f.Axes.Kinds {
		switch {
		case !k.Valid():
			return bad(tomlconf.Elem("axes.kinds", i), string(k), model.KindNames())
		case slices.Index(f.Axes.Kinds, k) < i:
			return bad(tomlconf.Elem("axes.kinds", i), string(k), "each kind once")
		}
	}
	if len(f.Axes.Kinds) > 0 && len(f.Axes.Methods) == 0 {
		return &tomlconf.FieldError{Key: "axes.methods", Problem: "missing key", Want: "the methods axes.kinds applies to", Related: []string{"axes.kinds"}, Err: ErrConfig}
	}
	return nil
}

// parseMethod reads a value of axes.methods.
func parseMethod(v string) (Method, error) {
	method, r, hasRatio := strings.Cut(v, ":")
	switch {
	case method == train.MethodExact && !hasRatio:
		return Method{Method: train.MethodExact}, nil
	case method == train.MethodWTACRS && hasRatio:
		ratio, err := strconv.ParseFloat(r, 64)
		if err == nil && ratio > 0 && ratio <= 1 {
			return Method{Method: train.MethodWTACRS, Ratio: ratio}, nil
		}
	}
	return Method{}, errors.New(`"exact" or "wtacrs:RATIO" with the ratio in (0, 1], such as "wtacrs:0.3"`)
}

// parseSet checks the i-th [[axes.set]] table a; labelsGiven tells whether it holds labels.
func (s *Sweep) parseSet(i int, a setTable, labelsGiven bool) (Set, error) {
	at := tomlconf.Elem("axes.set", i)
	parts, err := s.checkSetKey(at, a.Key)
	if err != nil {
		return Set{}, err
	}
	list, err := setValues(at, a.Values, a.Absent)
	if err != nil {
		return Set{}, err
	}
	set := Set{Key: a.Key, Absent: a.Absent, Values: list}
	name := parts[len(parts)-1]
	if a.Absent {
		set.Labels = append(set.Labels, "no "+name)
	}
	for _, v := range list {
		set.Labels = append(set.Labels, name+"="+labelOf(v))
	}
	if labelsGiven {
		if err := checkLabels(at, a.Labels, set); err != nil {
			return Set{}, err
		}
		set.Labels = a.Labels
	}
	return set, nil
}

// checkSetKey checks the key of the [[axes.set]] table at and returns its parts.
func (s *Sweep) checkSetKey(at, key string) ([]string, error) {
	bad := func(want string) error {
		return &tomlconf.FieldError{Key: at + ".key", Value: tomlconf.Format(key), Want: want, Related: []string{at}, Err: ErrConfig}
	}
	if key == "" {
		return nil, &tomlconf.FieldError{Key: at + ".key", Problem: "missing key", Want: "the dotted name of a configuration key, such as \"train.learning_rate\"", Related: []string{at}, Err: ErrConfig}
	}
	parts := strings.Split(key, ".")
	for _, p := range parts {
		if !keyPartRE.MatchString(p) {
			return nil, bad("a dotted key of bare parts (letters, digits, '_' and '-'), such as \"train.lora.rank\"")
		}
	}
	if !slices.Contains([]string{"experiment", "analysis", "train"}, parts[0]) || len(parts) < 2 {
		return nil, bad("a key of the [experiment], [analysis] or [train] table, such as \"train.learning_rate\"")
	}
	switch {
	case key == "experiment.name" || key == "experiment.seeds":
		return nil, bad("a key the sweep does not set itself (experiment.name is sweep.name, the seeds are axes.seeds)")
	case key == "train.seed" && len(s.Seeds) > 0:
		return nil, bad("a key other than train.seed, which axes.seeds sets")
	}
	return parts, nil
}

// setValues checks the values of the [[axes.set]] table at (as parsed: an array, or nil when
// not given) and returns them: each once, and at least one, the absent value or not.
func setValues(at string, values any, absent bool) ([]any, error) {
	list, ok := values.([]any)
	if tables, isTables := values.([]map[string]any); isTables {
		for _, t := range tables {
			list = append(list, t)
		}
		ok = true
	}
	if absent && (values == nil || ok && len(list) == 0) {
		return nil, &tomlconf.FieldError{Key: at + ".absent", Value: "true", Related: []string{at}, Err: ErrConfig,
			Want: "values besides it (an axis whose only value is absent removes the key from every job: leave the key out of the base instead)"}
	}
	if !ok || len(list) == 0 {
		if values == nil {
			return nil, &tomlconf.FieldError{Key: at + ".values", Problem: "missing key", Want: "an array of the values the key takes", Related: []string{at}, Err: ErrConfig}
		}
		return nil, &tomlconf.FieldError{Key: at + ".values", Value: render(values), Want: "a non-empty array of the values the key takes", Related: []string{at}, Err: ErrConfig}
	}
	for j, v := range list {
		r := render(v)
		for k := range j {
			if render(list[k]) == r {
				return nil, &tomlconf.FieldError{Key: tomlconf.Elem(at+".values", j), Value: r, Want: fmt.Sprintf("each value once (values[%d] is %s too)", k, r), Related: []string{at}, Err: ErrConfig}
			}
		}
	}
	return list, nil
}

// checkLabels checks the labels of the [[axes.set]] table at against the values of set.
func checkLabels(at string, labels []string, set Set) error {
	bad := func(sub string, v any, want string) error {
		return &tomlconf.FieldError{Key: at + sub, Value: tomlconf.Format(v), Want: want, Related: []string{at}, Err: ErrConfig}
	}
	if n := set.Len(); len(labels) != n {
		want := fmt.Sprintf("one label per value (%d)", n)
		if set.Absent {
			want = fmt.Sprintf("one label per value, the absent one first (%d)", n)
		}
		return bad(".labels", labels, want)
	}
	for j, l := range labels {
		if !validLabel(l) || slices.Index(labels, l) < j {
			return bad(tomlconf.Elem(".labels", j), l, "a unique non-empty label without control characters or '|'")
		}
	}
	return nil
}

// checkAxes refuses axes that set the same key, or keys inside one another, or keys the
// methods axis sets.
func (s *Sweep) checkAxes() error {
	inside := func(a, b string) bool { return a == b || strings.HasPrefix(a, b+".") }
	for i, a := range s.Sets {
		at := tomlconf.Elem("axes.set", i) + ".key"
		for j := range i {
			if b := s.Sets[j].Key; inside(a.Key, b) || inside(b, a.Key) {
				return &tomlconf.FieldError{Key: at, Value: tomlconf.Format(a.Key), Want: fmt.Sprintf("a key apart from %s, which axes.set[%d] sets", b, j), Err: ErrConfig}
			}
		}
		if len(s.Methods) > 0 && (inside(a.Key, "train.layers") || inside("train.layers", a.Key) ||
			slices.Contains([]string{"train.attention.method", "train.attention.ratio"}, a.Key)) {
			return &tomlconf.FieldError{Key: at, Value: tomlconf.Format(a.Key), Want: "a key axes.methods does not set (it sets every train.layers kind and the attention method and ratio)", Err: ErrConfig}
		}
	}
	return nil
}

// validLabel reports whether a label can stand in a table cell and a variant's name.
func validLabel(l string) bool {
	if l == "" || strings.Contains(l, "|") {
		return false
	}
	for _, r := range l {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// render writes a parsed TOML value as TOML spells it (inline), for messages and for telling
// values apart.
func render(v any) string {
	switch x := v.(type) {
	case string, float64:
		return tomlconf.Format(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = render(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []map[string]any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = render(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = tomlconf.Join("", k) + " = " + render(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// labelOf is the default label of an axis value: a string bare (the empty string "none"),
// anything else as TOML spells it; '|' and control characters become '/' and ' '.
func labelOf(v any) string {
	l := render(v)
	if s, ok := v.(string); ok {
		l = s
		if s == "" {
			l = "none"
		}
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '|':
			return '/'
		case r < 0x20 || r == 0x7f:
			return ' '
		}
		return r
	}, l)
}
