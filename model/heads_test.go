package model

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"gonum.org/v1/gonum/floats/scalar"
)

// hashBits returns the FNV-1a hash of the float64 bits of every value of vs, in order.
func hashBits[T matrix.Float](vs ...[]T) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	for _, v := range vs {
		for _, x := range v {
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(float64(x)))
			h.Write(buf[:])
		}
	}
	return h.Sum64()
}

type runHashes struct{ params, logits, grads uint64 }

func hashRun[T matrix.Float](t *testing.T, cfg Config) runHashes {
	t.Helper()
	m, err := New[T](cfg, 42)
	require.NoError(t, err)
	var ps, gs [][]T
	for _, p := range m.Params {
		ps = append(ps, p.W.Data)
	}
	tape, err := m.Forward(tinyBatch(), nil)
	require.NoError(t, err)
	require.NoError(t, m.Backward(tape, nil))
	for _, p := range m.Params {
		gs = append(gs, p.G)
	}
	return runHashes{hashBits(ps...), hashBits(tape.Logits.Data), hashBits(gs...)}
}

// TestZeroOptionsBitIdentical checks that a model whose pooling and MLM head are at their zero
// values has the initial parameters, logits and gradients of the model before those options
// existed, bit for bit: the hashes were recorded with that code. Fused multiply-adds (other
// architectures) or another GEMM may change the last bits, so the test runs on amd64 with
// the pure-Go GEMM only.
func TestZeroOptionsBitIdentical(t *testing.T) {
	t.Parallel()
	if runtime.GOARCH != "amd64" || !strings.HasPrefix(matrix.Backend(), "gonum") {
		t.Skipf("hashes recorded on amd64 with the pure-Go GEMM (WTACRS_BLAS=go), not %s with %s", runtime.GOARCH, matrix.Backend())
	}
	cfg := tinyConfig()
	assert.Equal(t, runHashes{0x7c942ae70215dabf, 0xe4a3c2b955189923, 0xe69a03e3067a5cb6}, hashRun[float32](t, cfg), "float32")
	assert.Equal(t, runHashes{0x67384cabbb562a9c, 0xb1809f2b24a23e00, 0x2a406b243ae9409d}, hashRun[float64](t, cfg), "float64")
}

// TestMLMKeepsExistingParams checks that adding an MLM head appends its parameters after the
// existing ones, which keep their names and initial values.
func TestMLMKeepsExistingParams(t *testing.T) {
	t.Parallel()
	base, err := New[float64](tinyConfig(), 7)
	require.NoError(t, err)
	tests := []struct {
		mlm  MLMHead
		tail []string
	}{
		{MLMTied, []string{"mlm.dense.w", "mlm.dense.b", "mlm.ln.g", "mlm.ln.b", "mlm.b"}},
		{MLMUntied, []string{"mlm.dense.w", "mlm.dense.b", "mlm.ln.g", "mlm.ln.b", "mlm.out.w", "mlm.b"}},
	}
	for _, tc := range tests {
		cfg := tinyConfig()
		cfg.MLM = tc.mlm
		m, err := New[float64](cfg, 7)
		require.NoError(t, err)
		require.Len(t, m.Params, len(base.Params)+len(tc.tail), tc.mlm)
		for i, p := range base.Params {
			assert.Equal(t, p.Name, m.Params[i].Name)
			assert.Equal(t, p.W, m.Params[i].W, p.Name)
		}
		for i, name := range tc.tail {
			p := m.Params[len(base.Params)+i]
			assert.Equal(t, name, p.Name)
			assert.Same(t, p, m.Param(name))
		}
	}
	assert.Nil(t, base.Param("mlm.b"))
	assert.Same(t, base.Params[0], base.Param("tok_emb"))
	// Without a classification head there are no head parameters.
	cfg := tinyConfig()
	cfg.Classes, cfg.MLM = 0, MLMTied
	m, err := New[float64](cfg, 7)
	require.NoError(t, err)
	assert.Nil(t, m.Param("head.w"))
	assert.Nil(t, m.Param("head.b"))
	assert.NotNil(t, m.Param("lnf.g"))
}

// mlmBatch is tinyBatch with MLM targets at five valid positions, [CLS] included.
func mlmBatch() Batch {
	b := tinyBatch()
	b.MLMTargets = []int{2, 5, -1, 0, -1, -1, 10, 3, -1, -1}
	return b
}

// TestModelGradientHeads checks every parameter against central differences of the training
// loss (classification plus MLM) with mean pooling and with each MLM head, with and without
// labels and classification head.
func TestModelGradientHeads(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pooling Pooling
		mlm     MLMHead
		classes int
		labels  bool
		targets bool
	}{
		{"mean pooling", PoolMean, MLMNone, 2, true, false},
		{"tied with labels", PoolCLS, MLMTied, 2, true, true},
		{"tied without labels", PoolCLS, MLMTied, 2, false, true},
		{"untied with labels", PoolMean, MLMUntied, 3, true, true},
		{"untied without labels", PoolCLS, MLMUntied, 2, false, true},
		{"tied labels only", PoolCLS, MLMTied, 2, true, false},
		{"tied no classification head", PoolCLS, MLMTied, 0, false, true},
		{"untied no classification head", PoolMean, MLMUntied, 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tinyConfig()
			cfg.Pooling, cfg.MLM, cfg.Classes = tc.pooling, tc.mlm, tc.classes
			m, err := New[float64](cfg, 3)
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(9, 10))
			for _, p := range m.Params {
				for i := range p.W.Data {
					p.W.Data[i] += 0.3 * rng.NormFloat64()
				}
			}
			b := mlmBatch()
			if !tc.labels {
				b.Labels = nil
			}
			if !tc.targets {
				b.MLMTargets = nil
			}
			tape, err := m.Forward(b, nil)
			require.NoError(t, err)
			if tc.targets {
				require.Equal(t, 5, tape.MLMPredicted)
				require.Positive(t, tape.MLMLoss)
			}
			m.ZeroGrad()
			require.NoError(t, m.Backward(tape, nil))
			loss := func() float64 {
				tp, err := m.Forward(b, nil)
				require.NoError(t, err)
				return tp.Loss + tp.MLMLoss
			}
			for _, p := range m.Params {
				checkGrad(t, p.Name, p.W.Data, p.G, loss)
			}
		})
	}
}

// lastBlockGrads is a hook that records the output gradient of one linear layer.
type lastBlockGrads struct {
	layer int
	grad  matrix.Dense[float64]
}

func (h *lastBlockGrads) Sketch(int, matrix.Dense[float64]) (*estimator.Sketch, error) {
	return nil, nil
}

func (h *lastBlockGrads) Gradient(i int, g matrix.Dense[float64]) error {
	if i == h.layer {
		h.grad = matrix.Dense[float64]{Rows: g.Rows, Cols: g.Cols, Data: append([]float64(nil), g.Data...)}
	}
	return nil
}

// TestMeanPoolingReachesEveryValidToken checks that with mean pooling the output of the last
// block gets gradient at every valid token and none at padding, while [CLS] pooling reaches
// position 0 only.
func TestMeanPoolingReachesEveryValidToken(t *testing.T) {
	t.Parallel()
	for _, pooling := range []Pooling{PoolCLS, PoolMean} {
		cfg := tinyConfig()
		cfg.Pooling = pooling
		m, err := New[float64](cfg, 2)
		require.NoError(t, err)
		b := tinyBatch()
		tape, err := m.Forward(b, nil)
		require.NoError(t, err)
		h := &lastBlockGrads{layer: LayerID{Block: cfg.Blocks - 1, Kind: FFNOut}.Index()}
		require.NoError(t, m.Backward(tape, h))
		for tok := 0; tok < b.B*b.S; tok++ {
			reached := slicesNonZero(h.grad.Row(tok))
			want := b.Mask[tok] && (pooling == PoolMean || tok%b.S == 0)
			assert.Equal(t, want, reached, "%v pooling, token %d", pooling, tok)
		}
	}
}

func slicesNonZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return true
		}
	}
	return false
}

// TestMeanPoolingEqualsCLSForOneToken checks that both poolings read the same vector when
// every sequence has a single token.
func TestMeanPoolingEqualsCLSForOneToken(t *testing.T) {
	t.Parallel()
	b := Batch{B: 3, S: 1, Tokens: []int{4, 0, 9}, Mask: []bool{true, true, true}, Segments: []int{1, 0, 1}, Labels: []int{0, 1, 1}}
	var logits [2][]float64
	var grads [2][][]float64
	for i, pooling := range []Pooling{PoolCLS, PoolMean} {
		cfg := tinyConfig()
		cfg.Pooling = pooling
		m, err := New[float64](cfg, 6)
		require.NoError(t, err)
		tape, err := m.Forward(b, nil)
		require.NoError(t, err)
		require.NoError(t, m.Backward(tape, nil))
		logits[i] = tape.Logits.Data
		for _, p := range m.Params {
			grads[i] = append(grads[i], p.G)
		}
	}
	assert.Equal(t, logits[0], logits[1])
	assert.Equal(t, grads[0], grads[1])
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(c *Config)
		ok   bool
	}{
		{"zero options", func(*Config) {}, true},
		{"mean pooling", func(c *Config) { c.Pooling = PoolMean }, true},
		{"tied head without classes", func(c *Config) { c.Classes, c.MLM = 0, MLMTied }, true},
		{"untied head with classes", func(c *Config) { c.MLM = MLMUntied }, true},
		{"no classes without MLM head", func(c *Config) { c.Classes = 0 }, false},
		{"one class", func(c *Config) { c.Classes, c.MLM = 1, MLMTied }, false},
		{"negative classes", func(c *Config) { c.Classes, c.MLM = -2, MLMTied }, false},
		{"unknown pooling", func(c *Config) { c.Pooling = 2 }, false},
		{"negative pooling", func(c *Config) { c.Pooling = -1 }, false},
		{"unknown MLM head", func(c *Config) { c.MLM = 3 }, false},
	}
	for _, tc := range tests {
		cfg := tinyConfig()
		tc.edit(&cfg)
		err := cfg.Validate()
		if tc.ok {
			assert.NoError(t, err, tc.name)
			continue
		}
		assert.ErrorIs(t, err, ErrConfig, tc.name)
		_, err = New[float32](cfg, 1)
		assert.ErrorIs(t, err, ErrConfig, tc.name)
	}
}

func TestMLMBatchValidation(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig()
	cfg.MLM = MLMTied
	tests := []struct {
		name string
		cfg  func(c *Config)
		edit func(b *Batch)
	}{
		{"targets length", nil, func(b *Batch) { b.MLMTargets = b.MLMTargets[:9] }},
		{"target out of vocabulary", nil, func(b *Batch) { b.MLMTargets[1] = 11 }},
		{"target below -1", nil, func(b *Batch) { b.MLMTargets[1] = -2 }},
		{"target at padding", nil, func(b *Batch) { b.MLMTargets[4] = 3 }},
		{"targets without MLM head", func(c *Config) { c.MLM = MLMNone }, nil},
		{"labels without classification head", func(c *Config) { c.Classes = 0 }, nil},
	}
	require.NoError(t, mlmBatch().Validate(cfg))
	for _, tc := range tests {
		c, b := cfg, mlmBatch()
		if tc.cfg != nil {
			tc.cfg(&c)
		}
		if tc.edit != nil {
			tc.edit(&b)
		}
		assert.ErrorIs(t, b.Validate(c), ErrInput, tc.name)
	}
}

// TestMLMCounts checks the loss and the counts on logits fixed by hand: with zero output
// weights every predicted row's logits are the vocabulary bias.
func TestMLMCounts(t *testing.T) {
	t.Parallel()
	lse := func(bias []float64) float64 {
		var s float64
		for _, v := range bias {
			s += math.Exp(v)
		}
		return math.Log(s)
	}
	peak := make([]float64, 11)
	peak[3] = 2
	tie := make([]float64, 11)
	tests := []struct {
		name      string
		bias      []float64
		targets   []int
		predicted int
		correct   int
		loss      float64
	}{
		{"peak at 3", peak, []int{-1, 3, 3, -1, -1, -1, 5, -1, -1, -1}, 3, 2, (2*(lse(peak)-2) + lse(peak)) / 3},
		{"tie goes to the first id", tie, []int{0, -1, -1, 1, -1, 0, -1, -1, -1, -1}, 3, 2, math.Log(11)},
		{"nothing predicted", peak, []int{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1}, 0, 0, 0},
	}
	for _, tc := range tests {
		cfg := tinyConfig()
		cfg.MLM = MLMUntied
		m, err := New[float64](cfg, 1)
		require.NoError(t, err)
		clear(m.Param("mlm.out.w").W.Data)
		copy(m.Param("mlm.b").W.Data, tc.bias)
		b := tinyBatch()
		b.MLMTargets = tc.targets
		tape, err := m.Forward(b, nil)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.predicted, tape.MLMPredicted, tc.name)
		assert.Equal(t, tc.correct, tape.MLMCorrect, tc.name)
		assert.True(t, scalar.EqualWithinAbsOrRel(tc.loss, tape.MLMLoss, 1e-12, 1e-12), "%s: loss %v, want %v", tc.name, tape.MLMLoss, tc.loss)
	}
}

// TestBackwardNeedsATarget checks that backward errors only for a batch with neither labels
// nor MLM targets, and that MLM targets with nothing predicted give zero gradient.
func TestBackwardNeedsATarget(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig()
	cfg.MLM = MLMTied
	m, err := New[float64](cfg, 1)
	require.NoError(t, err)
	b := tinyBatch()
	b.Labels = nil
	tape, err := m.Forward(b, nil)
	require.NoError(t, err)
	assert.ErrorIs(t, m.Backward(tape, nil), ErrInput)
	b.MLMTargets = []int{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
	tape, err = m.Forward(b, nil)
	require.NoError(t, err)
	require.NoError(t, m.Backward(tape, nil))
	for _, p := range m.Params {
		assert.False(t, slicesNonZero(p.G), p.Name)
	}
}

func TestMLMNonFiniteLogit(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig()
	cfg.MLM = MLMTied
	m, err := New[float32](cfg, 1)
	require.NoError(t, err)
	m.Param("mlm.b").W.Data[4] = float32(math.Inf(1))
	_, err = m.Forward(mlmBatch(), nil)
	assert.ErrorIs(t, err, estimator.ErrNonFinite)
}

// wtacrsHook sketches every linear layer with WTA-CRS on the row norms of its input, keeping
// half the tokens, and counts its calls.
type wtacrsHook struct {
	sketches, gradients int
}

func (h *wtacrsHook) Sketch(i int, x matrix.Dense[float64]) (*estimator.Sketch, error) {
	h.sketches++
	plan, err := estimator.NewWTACRS(estimator.RowNorms(x), x.Rows/2)
	if err != nil {
		return nil, err
	}
	return plan.Sample(11, uint64(i)), nil
}

func (h *wtacrsHook) Gradient(int, matrix.Dense[float64]) error {
	h.gradients++
	return nil
}

// TestMLMWithWTACRSHook checks that the blocks of a model with an MLM head run under WTA-CRS
// sketches: the hook sees each linear layer of the blocks once per pass and nothing else, the
// layers keep only the sketched rows, and since a sketch changes only the weight gradients of
// those layers every other gradient equals the exact one bit for bit.
func TestMLMWithWTACRSHook(t *testing.T) {
	t.Parallel()
	for _, h := range []MLMHead{MLMTied, MLMUntied} {
		cfg := tinyConfig()
		cfg.MLM, cfg.Pooling = h, PoolMean
		var grads [2]map[string][]float64
		for r, sketched := range []bool{false, true} {
			m, err := New[float64](cfg, 8)
			require.NoError(t, err)
			var hook Hook[float64]
			counter := &wtacrsHook{}
			if sketched {
				hook = counter
			}
			tape, err := m.Forward(mlmBatch(), hook)
			require.NoError(t, err)
			require.NoError(t, m.Backward(tape, hook))
			if sketched {
				layers := cfg.Blocks * LinearPerBlock
				assert.Equal(t, layers, counter.sketches, h)
				assert.Equal(t, layers, counter.gradients, h)
				for i := 0; i < layers; i++ {
					assert.False(t, tape.LinearSaved(i).Exact(), "%v layer %d", h, i)
				}
			}
			grads[r] = map[string][]float64{}
			for _, p := range m.Params {
				grads[r][p.Name] = p.G
			}
		}
		for name, g := range grads[0] {
			if strings.HasPrefix(name, "block") && strings.HasSuffix(name, ".w") {
				assert.NotEqual(t, g, grads[1][name], "%v %s", h, name)
				continue
			}
			assert.Equal(t, g, grads[1][name], "%v %s", h, name)
		}
	}
}
