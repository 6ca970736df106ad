package experiments

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/outdir"
)

// ErrNotResults reports a directory that is not a results directory written by [Run] or
// [AnalyzeTraces].
var ErrNotResults = errors.New("experiments: not a results directory")

// CheckResultsDir returns nil when dir is a complete results directory that [Run] or
// [AnalyzeTraces] wrote for the experiment name: its manifest.json parses, names the
// experiment, and lists every entry of dir, each a regular file. Otherwise it returns an error
// wrapping ErrNotResults that says what differs. Only such a directory is ever replaced.
func CheckResultsDir(dir, name string) error {
	js, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: no %s", ErrNotResults, ManifestFile)
		}
		return fmt.Errorf("%w: %w", ErrNotResults, err)
	}
	var m Manifest
	if err := json.Unmarshal(js, &m); err != nil {
		return fmt.Errorf("%w: %s is not a manifest this program wrote: %v", ErrNotResults, ManifestFile, err)
	}
	if m.Experiment != name || m.ConfigSHA256 == "" || !slices.Contains(m.Files, ManifestFile) {
		return fmt.Errorf("%w: %s is not the manifest of experiment %q", ErrNotResults, ManifestFile, name)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotResults, err)
	}
	var extra []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !slices.Contains(m.Files, e.Name()) {
			extra = append(extra, e.Name())
		}
	}
	if len(extra) > 0 {
		if len(extra) > 5 {
			extra = append(extra[:5], fmt.Sprintf("and %d more", len(extra)-5))
		}
		return fmt.Errorf("%w: it holds entries its %s does not list: %s", ErrNotResults, ManifestFile, strings.Join(extra, ", "))
	}
	return nil
}

// openTarget locks <parent>/<name> for a run and checks, before any work, that it can be
// written and replaced (see package outdir): it must be absent or a results directory of
// this experiment ([CheckResultsDir]) holding none of the inputs.
// The directory's name is normally the experiment's; experiment names it when it is not (a
// results directory renamed by its user, redrawn by [ReplotResults]).
func openTarget(parent, name, experiment string, inputs []string) (*outdir.Target, error) {
	t, err := outdir.Open(parent, name, outdir.Options{
		Owned:  func(dir string) error { return CheckResultsDir(dir, experiment) },
		Inputs: inputs,
	})
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	return t, nil
}

// RecordFiles adds names (files just written into dir, such as redrawn figures) to the file
// list of dir's manifest.json, rewriting it atomically, so that dir stays a results directory
// that a later run may replace. A dir without a manifest is left alone.
func RecordFiles(dir string, names []string) error {
	path := filepath.Join(dir, ManifestFile)
	js, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("experiments: %w", err)
	}
	var m Manifest
	if json.Unmarshal(js, &m) != nil {
		return fmt.Errorf("%w: %s is not a manifest this program wrote", ErrNotResults, path)
	}
	added := false
	for _, n := range names {
		if !slices.Contains(m.Files, n) {
			m.Files = append(m.Files, n)
			added = true
		}
	}
	if !added {
		return nil
	}
	slices.Sort(m.Files)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("experiments: %w", err)
	}
	return atomicfile.WriteFile(path, append(out, '\n'))
}

// ReplotResults redraws the figures of a results directory that [Run] or [AnalyzeTraces]
// wrote ([Replot]) and records them in its manifest. It refuses, before writing anything, a
// directory that is not such a results directory (the figures would overwrite files of the
// same names) and one another run is writing (it holds the same lock as Run). It returns the
// figure file names, or an error wrapping ErrNotResults, ErrResults or the lock's error.
func ReplotResults(dir string) ([]string, error) {
	js, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %s has no %s; wtacrs plot redraws only a directory written by wtacrs run or analyze", ErrNotResults, dir, ManifestFile)
	}
	var m Manifest
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("%w: %s/%s is not a manifest this program wrote: %v", ErrNotResults, dir, ManifestFile, err)
	}
	if err := CheckResultsDir(dir, m.Experiment); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	target, err := openTarget(filepath.Dir(abs), filepath.Base(abs), m.Experiment, nil)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	figs, err := Replot(dir)
	if err != nil {
		return nil, err
	}
	if len(figs) == 0 {
		return nil, fmt.Errorf("%w: %s holds no curves.csv, layers.csv or training.csv to plot", ErrResults, dir)
	}
	if err := RecordFiles(dir, figs); err != nil {
		return nil, err
	}
	return figs, nil
}
