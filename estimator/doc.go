// Package estimator implements randomized estimators of a matrix product X·Y that keep only
// some of its column-row pairs: column-row sampling (CRS), Winner-Take-All CRS (WTA-CRS, Liu et
// al., NeurIPS 2023), and the baselines uniform CRS, deterministic top-k, Bernoulli sampling and
// unscaled sampling without replacement, together with their closed-form expected squared errors.
//
// # Conventions
//
// X is n×m and Y is m×q; the m pairs are indexed by the inner dimension: pair i is the column
// X[:,i] and the row Y[i,:]. For the weight gradient ∇W = Hᵀ∇Z of a linear layer the pairs are
// the tokens: pair t is row t of H and row t of ∇Z (see [WeightsTransA] and [ApplyTransA]).
//
// Matrices are row-major [matrix.Dense] values of float32 or float64. Probabilities, scales and closed
// forms are always computed in float64.
//
// An estimate is made in two steps. A [Plan] is the deterministic part: the pairs kept exactly
// (the set C of WTA-CRS, or the top k), the distribution of one random draw and the scale every
// drawn pair gets. [Plan.Sample] turns a plan and a seed into a [Sketch]: the pairs used and their
// scale factors. [Apply] and [ApplyTransA] compute the estimate from a sketch with one GEMM over
// the gathered, scaled pairs. The closed forms ([ClosedForm], [Moments]) take the plan.
//
// A product whose pairs fall into independent strata (the attention products of a model, one
// stratum per sequence and head) is estimated by a [Stratified] WTA-CRS estimator: one plan per
// stratum with the same budget k and |C| by a [CRule], one sketch over all pairs
// ([Stratified.Sample]) that [Apply] uses as any other, and [ClosedFormStratified].
//
// A plan is immutable: it keeps a copy of its weights, its accessors return copies (or one
// entry, [Plan.Prob] and [Plan.Scale]), and [Plan.WithScale] makes a new plan with other scales.
// A sketch is a plain value that its holder owns; every function that uses one validates it
// ([Sketch.Validate]).
//
// Repeated draws of one pair are merged: a [Sketch] lists each pair once in Index, with the sum
// of the scales of its draws in Scale (added in draw order); Draws keeps the raw draw sequence.
// [Plan.SampleMerged] merges the draws as they come and keeps no raw sequence, so that a sketch
// costs O(m) memory whatever the budget: CRS and uniform CRS still take k draws (O(k) time),
// while WTA-CRS with k ≥ m is exact and draws nothing, and Bernoulli, top-k and sampling without
// replacement cost O(m) for any k.
//
// # Range
//
// Norms, weights and closed forms are right over float64's whole range: a norm whose plain sum of
// squares would underflow (entries of 1e-300, subnormal ones) or overflow (1e300 up to
// MaxFloat64) is recomputed with scaling, as BLAS nrm2 does; weights that would leave the normal
// range are all multiplied by one power of two, which changes no probability, scale or draw; the
// closed forms carry separate binary exponents where their squares would leave it. Inputs whose
// plain evaluation is in range take the plain float64 path, bit for bit. What float64 cannot hold
// is refused with [ErrRange] and the value: weights spanning more than 2^1074 at one scale, a
// positive weight more than 2^1020 below the sum in a plan that scales by 1/p (its scale would
// overflow), moments above MaxFloat64.
//
// # Weights and zero pairs
//
// The sampling weight of pair i is w_i = a_i·b_i with a_i = ‖X[:,i]‖ and b_i = ‖Y[i,:]‖ (Eq. 3 of
// the paper), or caller-supplied norms. A pair of weight zero is never drawn. Unbiasedness needs
// w_i > 0 wherever X[:,i]·Y[i,:] ≠ 0: this holds for weights computed from X and Y; with supplied
// norms it is the caller's duty. When every weight is zero nothing is drawn and the estimate is the
// zero matrix (exact when the weights come from X and Y).
//
// # Random stream layout
//
// Every random number comes from the counter-based generator Philox4x32-10 ([philox.Philox], [philox.Uniform]), so that a
// GPU kernel can reproduce a sketch draw for draw. For seed s, stream r and counter j the block
// Philox4x32-10(counter = (lo32(j), hi32(j), lo32(r), hi32(r)), key = (lo32(s), hi32(s))) gives
// four words x0..x3, and the uniform number is u = ((x0<<32 | x1) >> 11) · 2⁻⁵³ in [0, 1).
//
//   - CRS, WTA-CRS and uniform CRS: draw j (0-based, in draw order) uses counter j.
//   - Bernoulli: pair i uses counter i; it is kept when u < p_i.
//   - Sampling without replacement: pair i uses counter i for its Efraimidis–Spirakis key
//     log(u)/w_i; the k largest keys are kept (ties by smaller index).
//   - A [Stratified] WTA-CRS estimator with strata of `size` pairs: draw j (0-based) of stratum
//     g (0-based) uses stream r and counter g·2³² + j, so that no two strata share a counter
//     (j < [MaxStratumDraws], g < [MaxStrata]). The draw maps u to a pair i of the stratum
//     through the blocked cumulative sum below over the stratum's own plan (its blocks counted
//     from the stratum's first pair) and uses pair g·size + i of the product.
//     With one stratum the counters are 0, 1, … and the sketch is that of the stratum's plan.
//
// A draw maps u to a pair through the blocked cumulative sum of the plan's draw weights (zero on C):
// with blocks of [CDFBlock] consecutive pairs, local sums run sequentially inside each block,
// block offsets sequentially over the blocks, and cdf[i] = offset[block(i)] + local[i]
// (offset[0] = 0). With T = cdf[m−1] the draw is the smallest i with cdf[i] > u·T, or, if none
// (u·T rounded up to T), the largest i with cdf[i] > cdf[i−1] (i = 0 when there is none). All of
// it is float64 additions in a fixed order, so a GPU
// that follows the same order gets the same indices bit for bit.
package estimator
