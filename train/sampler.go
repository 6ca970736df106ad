package train

import (
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// coldFloor is the fraction of the batch's mean cached norm below which a cached ‖∇Z_t‖ of a
// valid token is raised, so that every valid token keeps a positive sampling weight.
const coldFloor = 1e-3

// sampler implements model.Hook: it builds each WTA-CRS layer's sketch in forward from the
// exact ‖H_t‖ and the cached ‖∇Z_t‖, and writes the current ‖∇Z_t‖ into the cache in backward.
//
// The cache holds, per layer, one norm per training sample and token position, written when
// the sample was last seen. Weights are w_t = ‖H_t‖·b_t with b_t = 0 for padding and, for a valid
// token: the cached norm when the sample has an entry; otherwise (a cold cache, in the first
// epoch) the mean cached norm of the batch's warm valid tokens, or 1 when none is warm. b_t is
// then raised to at least coldFloor times the batch's mean b over valid tokens. Every valid
// token thus has w_t > 0 whenever ‖H_t‖ > 0, and padding tokens, whose output gradient is
// exactly zero, have w_t = 0: the WTA-CRS estimate of ∇W is unbiased for any cache state,
// cold or warm, and the scaling is the plan's own (1−P_C)/((k−|C|)·p_j).
//
// Under LoRA the sketch of an adapted layer is that of its A product and the cached norm is
// ‖∇(HA)_t‖ (see model.Hook). The sampler also implements model.AttentionHook with caches of
// its own per block and product (attention_sampler.go), filled and floored the same way.
type sampler[T matrix.Float] struct {
	cfg     Config
	layers  int
	ids     []model.LayerID
	kinds   []KindConfig
	dIn     []int
	maxLen  int
	cache   [][]float32 // per layer: N·maxLen norms
	warm    [][]bool    // per layer: N flags
	step    int
	epoch   int
	seed    uint64
	indices []int
	batch   model.Batch
	obs     Observer
	pending []*Observation // per layer, nil unless observed this step

	attn [][]*attnCache // per block and product: nil unless sampled

	matrices []bool       // per layer: the observer wants H and ∇Z this step
	lastH    lastInput[T] // the last H copied this step, shared by layers with the same input

	sketcher estimator.Sketcher
	sketches []estimator.Sketch // per layer: the storage of its sketch, reused at every step
	actNorms []float64          // ‖H_t‖ of the last input whose norms were computed
	normsOf  normsKey           // that input
	cached   []float64          // b_t of the layer being sketched
	weights  []float64          // its weights
	grad     []float64          // ‖∇Z_t‖ of the layer in backward
}

// normsKey identifies the input whose row norms actNorms holds: the q, k and v layers of a
// block share one input, so its norms are computed once. The key is reset at every step.
type normsKey struct {
	block      int
	src        unsafe.Pointer
	rows, cols int
}

// lastInput is the last input of a q, k or v layer copied for an observer: its block, the data
// it was copied from and the copy.
type lastInput[T matrix.Float] struct {
	block      int
	src        *T
	rows, cols int
	copy       matrix.Dense[float64]
}

func newSampler[T matrix.Float](cfg Config, m *model.Model[T], nTrain, maxLen int) *sampler[T] {
	s := &sampler[T]{cfg: cfg, layers: cfg.Blocks * model.LinearPerBlock, maxLen: maxLen}
	for i := 0; i < s.layers; i++ {
		id := model.LayerOf(i)
		s.ids = append(s.ids, id)
		kc := cfg.Kind(id.Kind)
		s.kinds = append(s.kinds, kc)
		w, _ := m.Linear(i)
		s.dIn = append(s.dIn, w.W.Rows)
		if kc.Method == MethodWTACRS {
			s.cache = append(s.cache, make([]float32, nTrain*maxLen))
			s.warm = append(s.warm, make([]bool, nTrain))
		} else {
			s.cache = append(s.cache, nil)
			s.warm = append(s.warm, nil)
		}
	}
	s.attn = newAttnCaches(cfg, nTrain, maxLen)
	s.pending = make([]*Observation, s.layers)
	s.matrices = make([]bool, s.layers)
	s.sketches = make([]estimator.Sketch, s.layers)
	return s
}

// StepSeed returns the seed of the sketches of a step: the stream of layer i is i.
func StepSeed(seed uint64, step int) uint64 {
	return splitmix(seed ^ splitmix(uint64(step)+0x5bd1e995))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (s *sampler[T]) begin(step, epoch int, indices []int, b model.Batch, obs Observer) {
	s.step, s.epoch, s.indices, s.batch, s.obs = step, epoch, indices, b, obs
	s.seed = StepSeed(s.cfg.Seed, step)
	s.lastH = lastInput[T]{}
	s.normsOf = normsKey{}
	mo, _ := obs.(MatrixObserver)
	for i := range s.pending {
		s.pending[i], s.matrices[i] = nil, false
		if obs != nil && obs.Wants(step, s.ids[i]) {
			s.pending[i] = &Observation{Step: step, Epoch: epoch, Layer: s.ids[i], Valid: slices.Clone(b.Mask)}
			s.matrices[i] = mo != nil && mo.WantsMatrices(step, s.ids[i])
		}
	}
}

// inputCopy returns the input h of layer i in float64 for an observation. The q, k and v layers
// of a block share their input: for them, the copy made for the previous one is reused when h is
// the same matrix.
func (s *sampler[T]) inputCopy(i int, h matrix.Dense[T]) matrix.Dense[float64] {
	id := s.ids[i]
	if len(h.Data) == 0 || (id.Kind != model.Query && id.Kind != model.Key && id.Kind != model.Value) {
		return matrix.ToFloat64(h)
	}
	if l := &s.lastH; l.src == &h.Data[0] && l.block == id.Block && l.rows == h.Rows && l.cols == h.Cols {
		return l.copy
	}
	s.lastH = lastInput[T]{block: id.Block, src: &h.Data[0], rows: h.Rows, cols: h.Cols, copy: matrix.ToFloat64(h)}
	return s.lastH.copy
}

func (s *sampler[T]) finish() {
	for i, o := range s.pending {
		if o != nil {
			s.obs.Observe(*o)
			s.pending[i] = nil
		}
	}
}

// Sketch implements model.Hook. The sketch it returns lives in storage the sampler reuses at
// layer i's next Sketch: the model reads it only during the layer's forward pass.
func (s *sampler[T]) Sketch(i int, h matrix.Dense[T]) (*estimator.Sketch, error) {
	o := s.pending[i]
	kc := s.kinds[i]
	if o != nil && s.matrices[i] {
		o.H = s.inputCopy(i, h)
	}
	if kc.Method != MethodWTACRS {
		if o != nil {
			o.ActNorms = estimator.RowNorms(h)
		}
		return nil, nil
	}
	return s.sketchFromNorms(i, s.inputNorms(i, h), h.Rows)
}

// sketchFromNorms draws WTA-CRS layer i's sketch over n rows from the row norms a of its input.
func (s *sampler[T]) sketchFromNorms(i int, a []float64, n int) (*estimator.Sketch, error) {
	o := s.pending[i]
	kc := s.kinds[i]
	b, cold := s.cachedNorms(i)
	var err error
	if s.weights, err = estimator.WeightsFromNormsInto(s.weights, a, b); err != nil {
		return nil, fmt.Errorf("%w: layer %v step %d: %w", ErrDiverged, s.ids[i], s.step, err)
	}
	k, err := estimator.Budget(kc.Ratio, n)
	if err != nil {
		return nil, fmt.Errorf("layer %v step %d: %w", s.ids[i], s.step, err)
	}
	sk := &s.sketches[i]
	if err := s.sketcher.WTACRS(sk, s.weights, k, s.seed, uint64(i)); err != nil {
		return nil, fmt.Errorf("layer %v step %d: %w", s.ids[i], s.step, err)
	}
	if o != nil {
		o.ActNorms, o.CachedGradNorms, o.CacheCold, o.K = slices.Clone(a), slices.Clone(b), cold, k
	}
	return sk, nil
}

// inputNorms returns ‖H_t‖ of layer i's input h in the sampler's buffer, valid until the next
// call: the norms of the previous call when h is the same input of the q, k or v layer of the
// same block.
func (s *sampler[T]) inputNorms(i int, h matrix.Dense[T]) []float64 {
	id := s.ids[i]
	key := normsKey{block: id.Block, rows: h.Rows, cols: h.Cols}
	if len(h.Data) > 0 {
		key.src = unsafe.Pointer(&h.Data[0])
	}
	shared := key.src != nil && (id.Kind == model.Query || id.Kind == model.Key || id.Kind == model.Value)
	if shared && key == s.normsOf {
		return s.actNorms
	}
	if cap(s.actNorms) < h.Rows {
		s.actNorms = make([]float64, h.Rows)
	}
	s.actNorms = estimator.RowNormsInto(s.actNorms[:h.Rows], h)
	s.normsOf = normsKey{}
	if shared {
		s.normsOf = key
	}
	return s.actNorms
}

// cachedNorms returns b_t for the pooled tokens of the batch (see the type's documentation), in
// the sampler's buffer, valid until the next call, and whether some sample had no cache entry.
func (s *sampler[T]) cachedNorms(i int) ([]float64, bool) {
	bt := s.batch
	if cap(s.cached) < bt.B*bt.S {
		s.cached = make([]float64, bt.B*bt.S)
	}
	b := s.cached[:bt.B*bt.S]
	clear(b)
	cold := false
	for r, idx := range s.indices {
		if !s.warm[i][idx] {
			cold = true
			continue
		}
		row := s.cache[i][idx*s.maxLen:]
		for p := 0; p < bt.S; p++ {
			if bt.Mask[r*bt.S+p] {
				b[r*bt.S+p] = float64(row[p])
			}
		}
	}
	fillCold(b, func(t int) bool { return bt.Mask[t] }, func(t int) bool { return !s.warm[i][s.indices[t/bt.S]] })
	return b, cold
}

// fillCold completes the cached factors b of a batch, whose warm valid entries already hold
// their cached norms (and every other entry 0): each valid entry of a cold sample gets the mean
// of the warm valid entries (1 when there are none or they sum to 0), then every valid entry is
// raised to at least coldFloor times the mean over the valid entries (1 if that is 0). Padding
// stays 0. The linear layers and the attention products share it.
func fillCold(b []float64, valid, cold func(t int) bool) {
	var warmSum float64
	warmN := 0
	for t, v := range b {
		if valid(t) && !cold(t) {
			warmSum += v
			warmN++
		}
	}
	fill := 1.0
	if warmN > 0 && warmSum > 0 {
		fill = warmSum / float64(warmN)
	}
	var sum float64
	validN := 0
	for t := range b {
		if !valid(t) {
			continue
		}
		if cold(t) {
			b[t] = fill
		}
		sum += b[t]
		validN++
	}
	if validN == 0 {
		return
	}
	floor := coldFloor * sum / float64(validN)
	if floor == 0 {
		floor = 1
	}
	for t, v := range b {
		if valid(t) && v < floor {
			b[t] = floor
		}
	}
}

// Gradient implements model.Hook: it writes ‖∇Z_t‖ into the cache of a WTA-CRS layer.
func (s *sampler[T]) Gradient(i int, gz matrix.Dense[T]) error {
	o := s.pending[i]
	if s.kinds[i].Method != MethodWTACRS && o == nil {
		return nil
	}
	if cap(s.grad) < gz.Rows {
		s.grad = make([]float64, gz.Rows)
	}
	g := estimator.RowNormsInto(s.grad[:gz.Rows], gz)
	if o != nil && s.matrices[i] {
		o.GradZ = matrix.ToFloat64(gz)
	}
	return s.GradientNorms(i, g)
}

var _ model.NormHook[float32] = (*sampler[float32])(nil)

// NeedsRows implements model.NormHook: layer i's H and ∇Z are needed whole when this step
// records its matrices.
func (s *sampler[T]) NeedsRows(i int) bool { return s.pending[i] != nil && s.matrices[i] }

// Sampled implements model.NormHook: the WTA-CRS layers.
func (s *sampler[T]) Sampled(i int) bool { return s.kinds[i].Method == MethodWTACRS }

// SketchNorms implements model.NormHook: Sketch given ‖H_t‖ (a, read-only) of a WTA-CRS layer
// whose rows are not recorded in this step.
func (s *sampler[T]) SketchNorms(i int, a []float64) (*estimator.Sketch, error) {
	if s.kinds[i].Method != MethodWTACRS || s.matrices[i] && s.pending[i] != nil {
		return nil, fmt.Errorf("%w: layer %v: a sketch from norms alone for a layer that is exact or records its input", ErrConfig, s.ids[i])
	}
	return s.sketchFromNorms(i, a, len(a))
}

// GradientNorms implements model.NormHook: Gradient given ‖∇Z_t‖ (g, read-only).
func (s *sampler[T]) GradientNorms(i int, g []float64) error {
	o := s.pending[i]
	if s.kinds[i].Method != MethodWTACRS && o == nil {
		return nil
	}
	for t, v := range g {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: ‖∇Z‖ of token %d of layer %v is %v at step %d", ErrDiverged, t, s.ids[i], v, s.step)
		}
	}
	if o != nil {
		o.GradNorms = slices.Clone(g)
	}
	if s.kinds[i].Method == MethodWTACRS {
		bt := s.batch
		for r, idx := range s.indices {
			row := s.cache[i][idx*s.maxLen : (idx+1)*s.maxLen]
			clear(row)
			for p := 0; p < bt.S; p++ {
				row[p] = float32(g[r*bt.S+p])
			}
			s.warm[i][idx] = true
		}
	}
	return nil
}
