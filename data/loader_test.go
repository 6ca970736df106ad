package data

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// toySet is an encoded set of n samples whose token ids encode the sample number.
func toySet(n, seqLen int) *Encoded {
	e := &Encoded{Name: "toy", N: n, SeqLen: seqLen, IDs: make([]int, n*seqLen), Mask: make([]bool, n*seqLen),
		Segments: make([]int, n*seqLen), Labels: make([]Label, n), Index: make([]int, n)}
	for i := range n {
		for t := range seqLen {
			e.IDs[i*seqLen+t] = 1000*i + t
			e.Mask[i*seqLen+t] = t <= i%seqLen
		}
		e.Labels[i] = Label(i % 2)
		e.Index[i] = 10 * i
	}
	return e
}

// checkEpoch asserts that the epoch's batches hold every sample at most once, exactly once
// without dropLast, with rows copied from the set.
func checkEpoch(t require.TestingT, set *Encoded, l *Loader, epoch int, dropLast bool, bs int) []int {
	batches, err := l.Epoch(epoch)
	require.NoError(t, err)
	require.Len(t, batches, l.NumBatches())
	var seen []int
	for _, b := range batches {
		require.Equal(t, set.SeqLen, b.SeqLen)
		require.Len(t, b.Indices, b.Size)
		if dropLast {
			require.Equal(t, bs, b.Size)
		}
		for r, i := range b.Indices {
			s := set.SeqLen
			require.Equal(t, set.IDs[i*s:(i+1)*s], b.IDs[r*s:(r+1)*s])
			require.Equal(t, set.Mask[i*s:(i+1)*s], b.Mask[r*s:(r+1)*s])
			require.Equal(t, set.Labels[i], b.Labels[r])
		}
		seen = append(seen, b.Indices...)
	}
	sorted := slices.Sorted(slices.Values(seen))
	require.Len(t, slices.Compact(slices.Clone(sorted)), len(seen), "a sample appears twice")
	if !dropLast {
		require.Len(t, seen, set.N)
	} else {
		require.Len(t, seen, set.N/bs*bs)
	}
	return seen
}

func TestLoaderEachSampleOnce(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 60).Draw(t, "n")
		bs := rapid.IntRange(1, 70).Draw(t, "batch")
		shuffle := rapid.Bool().Draw(t, "shuffle")
		dropLast := rapid.Bool().Draw(t, "dropLast") && bs <= n
		seed := rapid.Uint64().Draw(t, "seed")
		set := toySet(n, 3)
		l, err := NewLoader(set, LoaderConfig{BatchSize: bs, Shuffle: shuffle, Seed: seed, DropLast: dropLast})
		require.NoError(t, err)
		for epoch := range 3 {
			seen := checkEpoch(t, set, l, epoch, dropLast, bs)
			if !shuffle && !dropLast {
				require.Equal(t, seen, slices.Sorted(slices.Values(seen)))
			}
		}
	})
}

func TestLoaderDeterministic(t *testing.T) {
	t.Parallel()
	set := toySet(50, 4)
	mk := func(seed uint64) *Loader {
		l, err := NewLoader(set, LoaderConfig{BatchSize: 8, Shuffle: true, Seed: seed})
		require.NoError(t, err)
		return l
	}
	a0, err := mk(7).Order(0)
	require.NoError(t, err)
	b0, err := mk(7).Order(0)
	require.NoError(t, err)
	assert.Equal(t, a0, b0, "same seed and epoch, same order")
	a1, err := mk(7).Order(1)
	require.NoError(t, err)
	assert.NotEqual(t, a0, a1, "epochs differ") // 1/50! chance of a false failure
	c0, err := mk(8).Order(0)
	require.NoError(t, err)
	assert.NotEqual(t, a0, c0, "seeds differ")
	// A fixed expectation pins the permutation across Go releases.
	assert.Equal(t, []int{48, 36, 4, 30, 31}, a0[:5])

	_, err = mk(7).Order(-1)
	assert.ErrorIs(t, err, ErrRange)
}

func TestLoaderIndicesStable(t *testing.T) {
	t.Parallel()
	set := toySet(23, 5)
	l, err := NewLoader(set, LoaderConfig{BatchSize: 4, Shuffle: true, Seed: 3})
	require.NoError(t, err)
	for epoch := range 4 {
		batches, err := l.Epoch(epoch)
		require.NoError(t, err)
		for _, b := range batches {
			for r, i := range b.Indices {
				// the ids of toySet name their sample: the index reported is the sample's row
				assert.Equal(t, 1000*i, b.IDs[r*b.SeqLen])
			}
		}
	}
}

func TestLoaderErrors(t *testing.T) {
	t.Parallel()
	_, err := NewLoader(toySet(5, 2), LoaderConfig{BatchSize: 0})
	assert.ErrorIs(t, err, ErrRange)
	_, err = NewLoader(toySet(5, 2), LoaderConfig{BatchSize: 6, DropLast: true})
	assert.ErrorIs(t, err, ErrRange)
	_, err = NewLoader(&Encoded{}, LoaderConfig{BatchSize: 1})
	assert.ErrorIs(t, err, ErrEmpty)
	broken := toySet(5, 2)
	broken.Mask = broken.Mask[:9]
	_, err = NewLoader(broken, LoaderConfig{BatchSize: 1})
	assert.ErrorIs(t, err, ErrFormat)
	_, err = Encode(&Dataset{}, nil, 8)
	assert.ErrorIs(t, err, ErrEmpty)
}

func TestBatchValid(t *testing.T) {
	t.Parallel()
	set := toySet(4, 3) // sample i has i%3+1 real tokens: 1, 2, 3, 1
	b, err := set.Gather([]int{0, 1, 2, 3})
	require.NoError(t, err)
	assert.Equal(t, 7, b.Valid())
	_, err = set.Gather([]int{4})
	assert.ErrorIs(t, err, ErrRange)
	_, err = set.Gather([]int{-1})
	assert.ErrorIs(t, err, ErrRange)
}
