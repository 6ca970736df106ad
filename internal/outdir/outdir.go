// Package outdir replaces an output directory <parent>/<name> with a new one safely:
//
//   - Before any work starts, [Open] checks that the parent can be written, that <parent>/<name>
//     is absent, an empty directory or a directory the caller recognises as its own
//     (Options.Owned), and that
//     no input of the job lies inside it; otherwise it refuses with [ErrRefused] and nothing is
//     touched. A user's file or folder is never deleted or hidden.
//   - It takes an exclusive lock (the file .<name>.lock in the parent), so that a second job
//     writing the same <parent>/<name> is refused with [ErrLocked] instead of racing.
//   - The new contents are built in a hidden staging directory .<name>.tmp-* ([Target.Stage])
//     and swapped into place by [Target.Commit] with one atomic exchange of the two directory
//     entries (Linux renameat2 RENAME_EXCHANGE), so that at every instant <parent>/<name> holds
//     either the old or the new contents. Where the file system cannot exchange, two renames are
//     used and a job killed between them leaves the old contents in a hidden .<name>.tmp-*
//     directory, which the next [Open] puts back.
//   - Debris of earlier jobs (staging directories, swapped-out old contents) is removed by the
//     next [Open] only when it can be proven to be this package's: a directory named
//     .<name>.tmp-* that is empty, holds the staging marker, or is recognised by Options.Owned.
//   - [Abort] removes every staging directory of the process and releases its locks at once,
//     for a program that must exit immediately (a second interrupt).
package outdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Errors of this package, wrapped with context.
var (
	// ErrRefused reports an output path that would replace something that is not the job's own
	// output, or that holds an input of the job, or that cannot be written.
	ErrRefused = errors.New("outdir: refusing to write the output")
	// ErrLocked reports an output directory another job is writing now.
	ErrLocked = errors.New("outdir: output directory in use")
)

// Marker is the file every staging directory holds until it is committed; it proves that a
// leftover staging directory was made by this package.
const Marker = ".outdir-staging"

// Options are the settings of [Open].
type Options struct {
	// Owned reports whether dir (an existing directory) is an output the caller wrote and may
	// replace: nil when it is, an error saying why not otherwise. Required.
	Owned func(dir string) error
	// Inputs are paths the job reads (files or directories). Open refuses when one of them is,
	// or lies inside, <parent>/<name>. Empty strings are ignored.
	Inputs []string
}

// Target is one locked output directory <parent>/<name>.
type Target struct {
	parent, name string
	dir          string
	opt          Options
	lock         *lockFile
	mu           sync.Mutex
	staged       []string
	closed       bool
	created      []string // folders Open created for the parent, deepest first
	committed    bool
}

// missingDirs returns p and those of its ancestors that do not exist yet, deepest first: the
// folders MkdirAll(p) would create.
func missingDirs(p string) []string {
	var out []string
	for d := filepath.Clean(p); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			return out
		}
		out = append(out, d)
		if filepath.Dir(d) == d {
			return out
		}
	}
}

// removeEmpty removes the folders, deepest first, while they are empty: what a job that wrote
// nothing created for its output is taken away again.
func removeEmpty(dirs []string) {
	for _, d := range dirs {
		if os.Remove(d) != nil {
			return
		}
	}
}

// live tracks the targets of the process for Abort.
var live struct {
	sync.Mutex
	targets []*Target
}

// Open prepares <parent>/<name> for replacement; see the package documentation. It creates the
// parent (and its parents) if needed. The returned Target holds the lock until [Target.Close].
// name must be a single path element.
func Open(parent, name string, opt Options) (*Target, error) {
	if opt.Owned == nil {
		return nil, errors.New("outdir: Options.Owned is required")
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("%w: %q is not a valid directory name", ErrRefused, name)
	}
	if parent == "" {
		parent = "."
	}
	dir := filepath.Join(parent, name)
	created := missingDirs(parent)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("%w: cannot create the output folder for %s: %w", ErrRefused, dir, err)
	}
	if st, err := os.Stat(parent); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrRefused, parent)
	}
	lock, err := acquire(filepath.Join(parent, "."+name+".lock"))
	if err != nil {
		removeEmpty(created)
		return nil, err
	}
	t := &Target{parent: parent, name: name, dir: dir, opt: opt, lock: lock, created: created}
	if err := t.prepare(); err != nil {
		lock.release()
		removeEmpty(created)
		return nil, err
	}
	live.Lock()
	live.targets = append(live.targets, t)
	live.Unlock()
	return t, nil
}

// Dir returns <parent>/<name>.
func (t *Target) Dir() string { return t.dir }

// prepare recovers or removes debris, then checks the destination and the inputs.
func (t *Target) prepare() error {
	if err := t.recover(); err != nil {
		return err
	}
	st, err := os.Lstat(t.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case !st.IsDir():
		return fmt.Errorf("%w: %s exists and is not a results directory (a %s); move it away or choose another output folder",
			ErrRefused, t.dir, kind(st.Mode()))
	case isEmptyDir(t.dir):
		// Nothing in it to lose.
	default:
		if err := t.opt.Owned(t.dir); err != nil {
			return fmt.Errorf("%w: %s exists and is not a results directory this program wrote (%v); move it away or choose another output folder",
				ErrRefused, t.dir, err)
		}
	}
	abs, err := filepath.Abs(t.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	real := resolve(abs)
	for _, in := range t.opt.Inputs {
		if in == "" {
			continue
		}
		a, err := filepath.Abs(in)
		if err != nil {
			continue
		}
		if within(resolve(a), real) || within(a, abs) {
			return fmt.Errorf("%w: the input %s lies inside %s, which this run would replace; choose another output folder or name",
				ErrRefused, in, t.dir)
		}
	}
	// The parent must accept new entries: make and remove the staging directory's sibling.
	probe, err := os.MkdirTemp(t.parent, "."+t.name+".tmp-")
	if err != nil {
		return fmt.Errorf("%w: cannot write in %s: %w", ErrRefused, t.parent, err)
	}
	os.Remove(probe)
	return nil
}

func kind(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

// resolve returns p with symbolic links resolved where it exists (its longest existing prefix
// otherwise).
func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	parent := filepath.Dir(p)
	if parent == p {
		return p
	}
	return filepath.Join(resolve(parent), filepath.Base(p))
}

// within reports whether p is dir or lies below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// debris lists the directories .<name>.tmp-* of the parent, sorted.
func (t *Target) debris() ([]string, error) {
	entries, err := os.ReadDir(t.parent)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	var out []string
	prefix := "." + t.name + ".tmp-"
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
			out = append(out, filepath.Join(t.parent, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// recover runs under the lock: when <parent>/<name> is missing but an owned, complete output
// survives in a hidden directory (a job killed between two renames), it is put back; then
// every leftover that is provably this package's is removed. Anything else is left alone.
func (t *Target) recover() error {
	ds, err := t.debris()
	if err != nil {
		return err
	}
	if _, err := os.Lstat(t.dir); errors.Is(err, os.ErrNotExist) {
		// The newest complete output (latest modification) is the one to put back.
		best, bestTime := "", int64(0)
		for _, d := range ds {
			st, err := os.Stat(d)
			if err != nil || exists(filepath.Join(d, Marker)) || t.opt.Owned(d) != nil {
				continue
			}
			if mt := st.ModTime().UnixNano(); best == "" || mt > bestTime {
				best, bestTime = d, mt
			}
		}
		if best != "" {
			if err := os.Rename(best, t.dir); err != nil {
				return fmt.Errorf("%w: putting back the previous output %s: %w", ErrRefused, best, err)
			}
		}
		if ds, err = t.debris(); err != nil {
			return err
		}
	}
	for _, d := range ds {
		if t.provablyOurs(d) {
			os.RemoveAll(d)
		}
	}
	return nil
}

func (t *Target) provablyOurs(d string) bool {
	entries, err := os.ReadDir(d)
	if err != nil {
		return false
	}
	return len(entries) == 0 || exists(filepath.Join(d, Marker)) || t.opt.Owned(d) == nil
}

// isEmptyDir reports whether dir is a directory with no entries.
func isEmptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) == 0
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// Stage creates a new staging directory .<name>.tmp-* in the parent and returns its path. The
// caller writes the new contents into it and passes it to [Target.Commit]; staging directories
// not committed are removed by [Target.Close].
func (t *Target) Stage() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return "", errors.New("outdir: Stage after Close")
	}
	d, err := os.MkdirTemp(t.parent, "."+t.name+".tmp-")
	if err != nil {
		return "", fmt.Errorf("outdir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d, Marker), nil, 0o644); err != nil {
		os.RemoveAll(d)
		return "", fmt.Errorf("outdir: %w", err)
	}
	t.staged = append(t.staged, d)
	return d, nil
}

// Commit puts the staged directory in place of <parent>/<name>, atomically where the file
// system allows (see the package documentation), and removes the old contents. The staged
// directory must come from [Target.Stage] of t. Before the swap it checks again that an
// existing <parent>/<name> is still the caller's own.
func (t *Target) Commit(staged string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.Index(t.staged, staged)
	if i < 0 || t.closed {
		return errors.New("outdir: Commit of a directory not staged by this target")
	}
	if err := os.Chmod(staged, 0o755); err != nil {
		return fmt.Errorf("outdir: %w", err)
	}
	if err := os.Remove(filepath.Join(staged, Marker)); err != nil {
		return fmt.Errorf("outdir: %w", err)
	}
	if err := syncTree(staged); err != nil {
		return fmt.Errorf("outdir: %w", err)
	}
	st, err := os.Lstat(t.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Rename(staged, t.dir); err != nil {
			return fmt.Errorf("outdir: %w", err)
		}
		t.staged = slices.Delete(t.staged, i, i+1)
		t.committed = true
		syncDir(t.parent)
		return nil
	case err != nil:
		return fmt.Errorf("outdir: %w", err)
	case !st.IsDir():
		return fmt.Errorf("%w: %s was replaced by a %s during the run", ErrRefused, t.dir, kind(st.Mode()))
	}
	if err := t.opt.Owned(t.dir); err != nil && !isEmptyDir(t.dir) {
		return fmt.Errorf("%w: %s changed during the run and is no longer a results directory this program wrote (%v)", ErrRefused, t.dir, err)
	}
	if err := exchange(staged, t.dir); err != nil {
		if !errors.Is(err, errNoExchange) {
			return fmt.Errorf("outdir: %w", err)
		}
		// Two renames: the old contents go to a hidden name first; a job killed in between
		// leaves them there for the next Open to put back.
		old := staged + ".old"
		if err := os.Rename(t.dir, old); err != nil {
			return fmt.Errorf("outdir: moving the previous %s aside: %w", t.dir, err)
		}
		if err := os.Rename(staged, t.dir); err != nil {
			os.Rename(old, t.dir)
			return fmt.Errorf("outdir: %w", err)
		}
		staged = old
	}
	// staged now holds the old contents.
	t.staged = slices.Delete(t.staged, i, i+1)
	t.committed = true
	syncDir(t.parent)
	if err := os.RemoveAll(staged); err != nil {
		return fmt.Errorf("outdir: removing the previous contents (left in %s): %w", staged, err)
	}
	return nil
}

// Close removes the staging directories not committed and releases the lock; when nothing was
// committed it also removes the folders Open created for the parent, if they are empty.
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	for _, d := range t.staged {
		os.RemoveAll(d)
	}
	t.staged = nil
	defer func() {
		if !t.committed {
			removeEmpty(t.created) // after the lock file is gone
		}
	}()
	live.Lock()
	if i := slices.Index(live.targets, t); i >= 0 {
		live.targets = slices.Delete(live.targets, i, i+1)
	}
	live.Unlock()
	return t.lock.release()
}

// Abort closes every open target of the process (removing their staging directories and
// releasing their locks) without waiting for a Commit in progress. It is meant for a program
// about to exit at once.
func Abort() {
	live.Lock()
	ts := slices.Clone(live.targets)
	live.Unlock()
	for _, t := range ts {
		if t.mu.TryLock() {
			t.mu.Unlock()
			t.Close()
		}
	}
}

// syncTree flushes every file of the staged directory, and the directory itself, to disk before
// it is swapped in, so that a crash of the machine after the swap cannot leave partial files.
func syncTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	syncDir(dir)
	return nil
}

// syncDir flushes the parent's entries to disk, best effort: some file systems cannot sync a
// directory, and the rename is done regardless.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}
