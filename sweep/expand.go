package sweep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/tomlconf"
	"github.com/wtacrs/wtacrs/train"
)

// HashLen is the number of hexadecimal digits of a job's hash: the first 64 bits of the
// SHA-256 of its configuration file.
const HashLen = 16

// Job is one training of a sweep: a complete experiment configuration and the axis values that
// made it.
type Job struct {
	// Index is the job's place in the sweep's job list, sorted by Hash: its Slurm array task id.
	Index int
	// Hash is the job's identity: the first [HashLen] hexadecimal digits of the SHA-256 of Text.
	// It depends on the configuration alone, not on the job's place in the grid.
	Hash string
	// Variant names the job's values of every axis but the seeds (the merged tables' rows):
	// their labels joined by ", ", or "base" for a sweep over seeds alone.
	Variant string
	// Seed is the job's training seed (train.seed).
	Seed uint64
	// Values are the labels of the job's value of each axis, in the order of [Sweep.Axes].
	Values []string
	// Config is the job's configuration (paths absolute), valid.
	Config experiments.Config
	// Text is the job's configuration file, [experiments.Config.Encode] with the paths relative
	// to the job's folder DIR/jobs/<hash>.
	Text []byte
}

// planned is a job of the grid before its folder is known.
type planned struct {
	method int   // index into Methods; -1 without a methods axis
	sets   []int // the value of each set axis
	seed   int   // index into Seeds; -1 without a seeds axis
	cfg    experiments.Config
}

// Axes returns the names of the sweep's axes in the order of [Job.Values]: "method" when there
// is a methods axis, the key of each [[axes.set]], and "seed" last.
func (s *Sweep) Axes() []string {
	var names []string
	if len(s.Methods) > 0 {
		names = append(names, "method")
	}
	for _, set := range s.Sets {
		names = append(names, set.Key)
	}
	return append(names, "seed")
}

// Variants returns the variants of the sweep in the order of the grid (methods outermost, then
// the [[axes.set]] axes in the file's order), each once.
func (s *Sweep) Variants() []string {
	var out []string
	for _, p := range s.jobs {
		if v := s.variant(p); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Size returns the number of jobs.
func (s *Sweep) Size() int { return len(s.jobs) }

// Jobs returns the jobs of the sweep as they are written into the sweep folder dir, sorted by
// hash (so [Job.Index] is the same whatever the order of the axes and their values).
func (s *Sweep) Jobs(dir string) ([]Job, error) {
	jobs := make([]Job, 0, len(s.jobs))
	for _, p := range s.jobs {
		written := p.cfg
		// Every job folder lies at the same depth, so the relative paths do not depend on the
		// hash.
		written.Train = p.cfg.Train.RelativeTo(filepath.Join(dir, jobsDir, strings.Repeat("0", HashLen)))
		text, err := written.Encode()
		if err != nil {
			return nil, err
		}
		j := Job{Hash: hashOf(text), Variant: s.variant(p), Seed: p.cfg.Train.Seed, Values: s.values(p), Config: p.cfg, Text: text}
		jobs = append(jobs, j)
	}
	slices.SortFunc(jobs, func(a, b Job) int { return strings.Compare(a.Hash, b.Hash) })
	for i := range jobs {
		jobs[i].Index = i
		if i > 0 && jobs[i].Hash == jobs[i-1].Hash {
			// Distinct configurations (checked by expand) whose 64-bit hashes collide.
			return nil, fmt.Errorf("%w: jobs %q and %q share the hash %s", ErrConfig, jobs[i-1].Variant, jobs[i].Variant, jobs[i].Hash)
		}
	}
	return jobs, nil
}

// hashOf is the hash of a job's configuration file.
func hashOf(text []byte) string {
	h := sha256.Sum256(text)
	return hex.EncodeToString(h[:])[:HashLen]
}

func (s *Sweep) values(p planned) []string {
	var v []string
	if p.method >= 0 {
		v = append(v, s.methodLabel(s.Methods[p.method]))
	}
	for i, j := range p.sets {
		v = append(v, s.Sets[i].Labels[j])
	}
	return append(v, fmt.Sprint(p.cfg.Train.Seed))
}

func (s *Sweep) variant(p planned) string {
	v := s.values(p)
	v = v[:len(v)-1]
	if len(v) == 0 {
		return "base"
	}
	return strings.Join(v, ", ")
}

// methodLabel names a method with the kinds it applies to when they are not all.
func (s *Sweep) methodLabel(m Method) string {
	if m.Method == train.MethodWTACRS && len(s.Kinds) > 0 {
		ks := make([]string, len(s.Kinds))
		for i, k := range s.Kinds {
			ks[i] = string(k)
		}
		return m.Label() + " on " + strings.Join(ks, "+")
	}
	return m.Label()
}

// expand builds and validates every job of the grid.
func (s *Sweep) expand() error {
	dims := []int{max(1, len(s.Methods))}
	for _, set := range s.Sets {
		dims = append(dims, set.Len())
	}
	dims = append(dims, max(1, len(s.Seeds)))
	at := make([]int, len(dims))
	seen := map[string]int{}
	for {
		p := planned{method: -1, seed: -1, sets: slices.Clone(at[1 : len(at)-1])}
		if len(s.Methods) > 0 {
			p.method = at[0]
		}
		if len(s.Seeds) > 0 {
			p.seed = at[len(at)-1]
		}
		cfg, err := s.jobConfig(p)
		if err != nil {
			return err
		}
		p.cfg = cfg
		text, err := cfg.Encode()
		if err != nil {
			return err
		}
		if j, dup := seen[string(text)]; dup {
			return &tomlconf.FieldError{File: s.File, Line: s.index.Locate("axes"),
				Problem: fmt.Sprintf("the jobs %q and %q have the same configuration (an axis value that changes nothing)", s.variant(s.jobs[j]), s.variant(p)),
				Want:    "axis values that change the configuration", Err: ErrConfig}
		}
		seen[string(text)] = len(s.jobs)
		s.jobs = append(s.jobs, p)
		// The next point of the grid, the last axis fastest.
		i := len(at) - 1
		for ; i >= 0; i-- {
			if at[i]++; at[i] < dims[i] {
				break
			}
			at[i] = 0
		}
		if i < 0 {
			return nil
		}
	}
}

// jobConfig returns the validated configuration of one point of the grid.
func (s *Sweep) jobConfig(p planned) (experiments.Config, error) {
	tree := copyValue(s.base).(map[string]any)
	for i, set := range s.Sets {
		var err error
		if v, present := set.value(p.sets[i]); present {
			err = setKey(tree, set.Key, copyValue(v))
		} else {
			err = removeKey(tree, set.Key)
		}
		if err != nil {
			return experiments.Config{}, s.locate(&tomlconf.FieldError{Key: tomlconf.Elem("axes.set", i) + ".key", Value: tomlconf.Format(set.Key),
				Want: err.Error(), Err: ErrConfig}, p)
		}
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(tree); err != nil {
		return experiments.Config{}, fmt.Errorf("%w: %s: %v", ErrConfig, s.File, err)
	}
	cfg, err := experiments.ParseConfig(buf.Bytes(), s.File, s.Name)
	if err != nil {
		return cfg, s.locate(err, p)
	}
	cfg.Train = cfg.Train.ResolvePaths(s.dir)
	if p.method >= 0 {
		m := s.Methods[p.method]
		if m.Method == train.MethodExact {
			cfg.Train = cfg.Train.WithMethod(train.MethodExact, 0, nil)
		} else {
			for i, k := range s.Kinds {
				if l := cfg.Train.LoRA; l != nil && !l.Model().Has(k) {
					return cfg, s.locate(&tomlconf.FieldError{Key: tomlconf.Elem("axes.kinds", i), Value: tomlconf.Format(string(k)),
						Want: "a kind of train.lora.kinds (the others are frozen)", Err: ErrConfig}, p)
				}
			}
			kinds := s.Kinds
			if len(kinds) == 0 {
				kinds = nil
			}
			cfg.Train = cfg.Train.WithMethod(train.MethodWTACRS, m.Ratio, kinds)
		}
	}
	if p.seed >= 0 {
		cfg.Train.Seed = s.Seeds[p.seed]
	}
	cfg.Experiment.Name = s.Name
	if cfg.Train, err = cfg.Train.WithInit(); err != nil {
		if tomlconf.Fields(err) == nil { // the checkpoint itself
			err = &tomlconf.FieldError{Key: "init", Value: tomlconf.Format(cfg.Train.Init),
				Want: "a checkpoint of this program: " + strings.TrimPrefix(err.Error(), train.ErrConfig.Error()+": "), Err: err}
		}
		return cfg, s.locate(tomlconf.Prefix(err, "train", ErrConfig), p)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, s.locate(err, p)
	}
	return cfg, nil
}

// locate returns err as a configuration error of the sweep file: every field error it holds
// wraps ErrConfig and names the sweep file and the line of the axis value of job p that sets
// its key, or else of the key in the base.
func (s *Sweep) locate(err error, p planned) error {
	if tomlconf.Fields(err) == nil {
		return fmt.Errorf("%w: %s: %w", ErrConfig, s.File, err)
	}
	err = tomlconf.Prefix(err, "", ErrConfig)
	for _, fe := range tomlconf.Fields(err) {
		fe.File, fe.Line = s.File, s.lineOf(fe, p)
	}
	return err
}

// lineOf is the line of the sweep file a field error of job p belongs to.
func (s *Sweep) lineOf(fe *tomlconf.FieldError, p planned) int {
	keys := append([]string{fe.Key}, fe.Related...)
	overlap := func(a, b string) bool {
		return a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(a, b+"[") || strings.HasPrefix(b, a+".")
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "axes.") || strings.HasPrefix(k, "sweep.") {
			return s.index.Locate(k)
		}
		for i, set := range s.Sets {
			if overlap(k, set.Key) {
				at := tomlconf.Elem("axes.set", i)
				if fe.Problem == "unknown key" && k == set.Key {
					return s.index.Locate(at + ".key")
				}
				if l := s.index.Line(at + set.valueKey(p.sets[i])); l > 0 {
					return l
				}
				return s.index.Locate(at)
			}
		}
		if p.method >= 0 && (overlap(k, "train.layers") || overlap(k, "train.attention")) {
			return s.index.Locate(tomlconf.Elem("axes.methods", p.method))
		}
		if p.seed >= 0 && k == "train.seed" {
			return s.index.Locate(tomlconf.Elem("axes.seeds", p.seed))
		}
	}
	for _, k := range keys {
		if l := s.index.Line(k); l > 0 {
			return l
		}
	}
	for _, k := range keys {
		if l := s.index.Locate(k); l > 0 {
			return l
		}
	}
	return 0
}

// setKey sets the dotted key of tree to v, creating the tables on the way.
func setKey(tree map[string]any, key string, v any) error {
	parts := strings.Split(key, ".")
	t, err := tableOf(tree, parts[:len(parts)-1], true)
	if err != nil {
		return err
	}
	t[parts[len(parts)-1]] = v
	return nil
}

// removeKey removes the dotted key from tree, creating nothing: a key tree does not hold, or
// one inside a table it does not hold, leaves it as it is. A table emptied stays (removing
// train.lora.rank leaves train.lora).
func removeKey(tree map[string]any, key string) error {
	parts := strings.Split(key, ".")
	t, err := tableOf(tree, parts[:len(parts)-1], false)
	if err != nil || t == nil {
		return err
	}
	delete(t, parts[len(parts)-1])
	return nil
}

// tableOf returns the table of tree at the dotted path parts: with create, making the tables
// missing on the way; without, nil when one is missing. A part that names a value other than
// a table is an error.
func tableOf(tree map[string]any, parts []string, create bool) (map[string]any, error) {
	t := tree
	for i, p := range parts {
		switch next := t[p].(type) {
		case nil:
			if !create {
				return nil, nil
			}
			m := map[string]any{}
			t[p] = m
			t = m
		case map[string]any:
			t = next
		default:
			return nil, fmt.Errorf("a key inside a table (%s is not a table)", strings.Join(parts[:i+1], "."))
		}
	}
	return t, nil
}

// copyValue returns a deep copy of a parsed TOML value.
func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = copyValue(e)
		}
		return s
	case []map[string]any:
		s := make([]map[string]any, len(x))
		for i, e := range x {
			s[i] = copyValue(e).(map[string]any)
		}
		return s
	}
	return v
}
