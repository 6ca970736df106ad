package outdir

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// owned recognises the test's outputs: directories holding a file named "ours".
func owned(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "ours")); err != nil {
		return errors.New("no file ours")
	}
	return nil
}

// write makes dir an owned output holding content.
func write(t *testing.T, dir, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ours"), []byte(content), 0o644))
}

func read(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "ours"))
	require.NoError(t, err)
	return string(b)
}

// entries lists a directory's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// replace runs a whole job: Open, Stage, write content, Commit, Close.
func replace(t *testing.T, parent, name, content string, inputs ...string) error {
	t.Helper()
	tg, err := Open(parent, name, Options{Owned: owned, Inputs: inputs})
	if err != nil {
		return err
	}
	defer tg.Close()
	st, err := tg.Stage()
	require.NoError(t, err)
	write(t, st, content)
	return tg.Commit(st)
}

func TestReplaceCreatesThenReplacesOwnOutput(t *testing.T) {
	t.Parallel()
	parent := filepath.Join(t.TempDir(), "results", "nested")
	require.NoError(t, replace(t, parent, "run", "first"))
	assert.Equal(t, "first", read(t, filepath.Join(parent, "run")))
	require.NoError(t, replace(t, parent, "run", "second"))
	assert.Equal(t, "second", read(t, filepath.Join(parent, "run")))
	assert.Equal(t, []string{"run"}, entries(t, parent), "no staging directory, old output or lock file is left")
	assert.Equal(t, []string{"ours"}, entries(t, filepath.Join(parent, "run")), "the staging marker is not in the output")
	st, err := os.Stat(filepath.Join(parent, "run"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
}

// Regression: `run` replaced <out>/<name> whatever it was, and a user's thesis was lost.
func TestRefusesToReplaceWhatIsNotOurs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"user file", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, []byte("thesis"), 0o644)) }, "is not a results directory (a file)"},
		{"user directory", func(t *testing.T, p string) {
			require.NoError(t, os.MkdirAll(p, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(p, "thesis.tex"), []byte("thesis"), 0o644))
		}, "not a results directory this program wrote (no file ours)"},
		{"symbolic link", func(t *testing.T, p string) {
			other := p + "-elsewhere"
			write(t, other, "linked")
			require.NoError(t, os.Symlink(other, p))
		}, "(a symbolic link)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			p := filepath.Join(parent, "run")
			c.setup(t, p)
			before := snapshot(t, parent)
			err := replace(t, parent, "run", "new")
			require.ErrorIs(t, err, ErrRefused)
			assert.ErrorContains(t, err, c.want)
			assert.Equal(t, before, snapshot(t, parent), "nothing is touched")
		})
	}
}

// snapshot maps every path under root to its content ("<dir>" for directories, "-> target" for links).
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		case info.IsDir():
			out[rel] = "<dir>"
		default:
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	}))
	return out
}

// Regression: `analyze -out . -name X X` deleted its own input traces.
func TestRefusesWhenAnInputLiesInside(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "run")
	write(t, dir, "old")
	input := filepath.Join(dir, "traces", "H.npy")
	require.NoError(t, os.MkdirAll(filepath.Dir(input), 0o755))
	require.NoError(t, os.WriteFile(input, []byte("data"), 0o644))
	for _, in := range []string{dir, input, filepath.Join(dir, "traces")} {
		err := replace(t, parent, "run", "new", "", in)
		require.ErrorIs(t, err, ErrRefused, in)
		assert.ErrorContains(t, err, "lies inside")
	}
	// Through a symbolic link to the output.
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(dir, link))
	err := replace(t, parent, "run", "new", filepath.Join(link, "traces"))
	require.ErrorIs(t, err, ErrRefused)
	assert.Equal(t, "old", read(t, dir))
	// An input beside the output is fine.
	require.NoError(t, replace(t, parent, "run", "new", filepath.Join(parent, "run-inputs")))
}

func TestSecondWriterIsRefused(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	first, err := Open(parent, "run", Options{Owned: owned})
	require.NoError(t, err)
	_, err = Open(parent, "run", Options{Owned: owned})
	require.ErrorIs(t, err, ErrLocked)
	assert.ErrorContains(t, err, ".run.lock")
	// Another name in the same folder is independent.
	other, err := Open(parent, "other", Options{Owned: owned})
	require.NoError(t, err)
	require.NoError(t, other.Close())
	require.NoError(t, first.Close())
	again, err := Open(parent, "run", Options{Owned: owned})
	require.NoError(t, err)
	require.NoError(t, again.Close())
	assert.Empty(t, entries(t, parent))
}

func TestStaleLockFileIsTakenOver(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	// A killed process leaves its lock file but holds no lock.
	require.NoError(t, os.WriteFile(filepath.Join(parent, ".run.lock"), []byte("12345\n"), 0o644))
	require.NoError(t, replace(t, parent, "run", "x"))
}

// Regression: a kill between the two renames left only hidden .name.tmp-* folders.
func TestRecoversAfterAKillBetweenRenames(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	write(t, filepath.Join(parent, ".run.tmp-123.old"), "old")
	write(t, filepath.Join(parent, ".run.tmp-123"), "new")
	// The complete new output is the newer one.
	now := mustStat(t, filepath.Join(parent, ".run.tmp-123")).ModTime()
	require.NoError(t, os.Chtimes(filepath.Join(parent, ".run.tmp-123.old"), now.Add(-1e9), now.Add(-1e9)))
	tg, err := Open(parent, "run", Options{Owned: owned})
	require.NoError(t, err)
	assert.Equal(t, "new", read(t, filepath.Join(parent, "run")), "the newest complete output is put back")
	require.NoError(t, tg.Close())
	assert.Equal(t, []string{"run"}, entries(t, parent), "the older one is removed")
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(p)
	require.NoError(t, err)
	return st
}

func TestCleansOnlyProvableDebris(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	write(t, filepath.Join(parent, "run"), "current")
	require.NoError(t, os.Mkdir(filepath.Join(parent, ".run.tmp-empty"), 0o700))
	write(t, filepath.Join(parent, ".run.tmp-swapped"), "old contents")
	partial := filepath.Join(parent, ".run.tmp-partial")
	require.NoError(t, os.Mkdir(partial, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(partial, Marker), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(partial, "half.csv"), []byte("a,b"), 0o644))
	user := filepath.Join(parent, ".run.tmp-mine")
	require.NoError(t, os.Mkdir(user, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(user, "notes.txt"), []byte("keep"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(parent, ".run.tmp-file"), []byte("keep"), 0o644))

	tg, err := Open(parent, "run", Options{Owned: owned})
	require.NoError(t, err)
	require.NoError(t, tg.Close())
	assert.ElementsMatch(t, []string{"run", ".run.tmp-mine", ".run.tmp-file"}, entries(t, parent))
	assert.Equal(t, "current", read(t, filepath.Join(parent, "run")))
}

func TestUncommittedStagingIsRemoved(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	tg, err := Open(parent, "run", Options{Owned: owned})
	require.NoError(t, err)
	st, err := tg.Stage()
	require.NoError(t, err)
	write(t, st, "abandoned")
	require.NoError(t, tg.Close())
	assert.Empty(t, entries(t, parent))
	_, err = tg.Stage()
	assert.Error(t, err)

	tg, err = Open(parent, "run", Options{Owned: owned})
	require.NoError(t, err)
	st, err = tg.Stage()
	require.NoError(t, err)
	Abort()
	assert.NoDirExists(t, st)
	_, err = os.Stat(filepath.Join(parent, ".run.lock"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestCommitRechecksTheDestination(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "run")
	write(t, dir, "old")
	tg, err := Open(parent, "run", Options{Owned: owned})
	require.NoError(t, err)
	defer tg.Close()
	st, err := tg.Stage()
	require.NoError(t, err)
	write(t, st, "new")
	// The user replaces the output with their own folder during the run.
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mine.txt"), []byte("keep"), 0o644))
	err = tg.Commit(st)
	require.ErrorIs(t, err, ErrRefused)
	assert.Equal(t, []string{"mine.txt"}, entries(t, dir))
}

func TestBadTargets(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	file := filepath.Join(parent, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, c := range []struct{ parent, name string }{
		{filepath.Join(file, "sub"), "run"}, // the parent cannot be created
		{file, "run"},                       // the parent is a file
		{parent, ""}, {parent, ".."}, {parent, "a/b"},
	} {
		_, err := Open(c.parent, c.name, Options{Owned: owned})
		assert.ErrorIs(t, err, ErrRefused, "%+v", c)
	}
	_, err := Open(parent, "run", Options{})
	assert.Error(t, err)
}

// At every instant either the old or the new output is at <parent>/<name>.
func TestSwapIsNeverEmpty(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	require.NoError(t, replace(t, parent, "run", "v0"))
	if err := exchange(t.TempDir(), t.TempDir()); errors.Is(err, errNoExchange) {
		t.Skip("this file system cannot exchange directories atomically; Commit uses two renames")
	}
	var stop atomic.Bool
	var missing atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := os.Stat(filepath.Join(parent, "run", "ours")); err != nil {
				missing.Add(1)
			}
		}
	}()
	for i := range 200 {
		require.NoError(t, replace(t, parent, "run", string(rune('a'+i%26))))
	}
	stop.Store(true)
	wg.Wait()
	assert.Zero(t, missing.Load(), "the output was missing during a swap")
}

// Regression: a user's own file named .<name>.lock in the output folder was taken as the lock
// file and deleted at the end of the run.
func TestUserFileNamedLikeTheLockIsKept(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	lock := filepath.Join(parent, ".run.lock")
	require.NoError(t, os.WriteFile(lock, []byte("my notes about the run"), 0o644))
	_, err := Open(parent, "run", Options{Owned: owned})
	require.ErrorIs(t, err, ErrRefused)
	assert.ErrorContains(t, err, "not a lock file of this program")
	got, err := os.ReadFile(lock)
	require.NoError(t, err)
	assert.Equal(t, "my notes about the run", string(got))
	// A lock file this package left (a killed run) is taken over.
	require.NoError(t, os.WriteFile(lock, []byte(lockHeader+"12345\n"), 0o644))
	require.NoError(t, replace(t, parent, "run", "x"))
	assert.NoFileExists(t, lock)
}

// Regression: a run refused after Open (a bad data file, say) left the output folder it had
// created for nothing.
func TestFoldersCreatedForNothingAreRemoved(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	parent := filepath.Join(root, "a", "b")
	tg, err := Open(parent, "run", Options{Owned: owned})
	require.NoError(t, err)
	require.NoError(t, tg.Close())
	assert.NoDirExists(t, filepath.Join(root, "a"), "created for a job that committed nothing")

	require.NoError(t, replace(t, parent, "run", "x"))
	assert.DirExists(t, filepath.Join(parent, "run"), "kept once something is committed")

	// A folder that existed before is never removed.
	existing := t.TempDir()
	tg, err = Open(existing, "run", Options{Owned: owned})
	require.NoError(t, err)
	require.NoError(t, tg.Close())
	assert.DirExists(t, existing)
}
