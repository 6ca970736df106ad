// Package theory checks the claims of the WTA-CRS paper (Liu et al., NeurIPS 2023) against the
// estimators of package estimator: Theorem 1 (CRS and WTA-CRS are unbiased), Eq. 3 (the
// norm-product distribution minimises the CRS variance), the closed-form variances, and
// Theorem 2 (when WTA-CRS beats CRS, the bound on its variance and the rule that picks |C|),
// that the approximate linear layer of package estimator (LinearForward, LinearBackward)
// returns an unbiased ∇W for a fixed gradient-norm cache with exact ∇H and bias gradient, and
// that the stratified WTA-CRS estimator (estimator.Stratified, one plan per independent stratum
// with each stratum's own |C| or one shared |C|) is unbiased with the closed-form variance of
// estimator.ClosedFormStratified.
//
// # Checkers
//
// Every claim is decided by a checker that can fail, and the tests prove it does: each checker
// is also run on biased estimators (negative controls) and must reject them.
//
//   - [CheckExact] computes the expectation of a plan's estimate by enumerating the law of one
//     draw (from the plan's Kept, Prob and Scale alone, see [Law]) and compares it with the exact
//     product XY to a relative tolerance [RelTol] of the magnitude of the terms.
//   - [CheckMean] averages T sketches and compares every entry with XY. Its threshold comes from
//     Bernstein's inequality with the per-entry variance and range of [Law], so that an unbiased
//     plan is rejected with probability at most the given α (no normal approximation).
//   - [CheckVariance] compares a claimed variance with the sketches' squared deviations through
//     a median of means; the exact variance of one squared deviation (a fourth moment, see
//     [SquaredErrorSpread]) and Chebyshev per group bound its false-rejection probability by α.
//   - [CheckExactStratified], [CheckMeanStratified] and [CheckVarianceStratified] are the same
//     checks for a stratified estimator, whose law ([NewStratifiedLaw]) and spread
//     ([StratifiedSquaredErrorSpread]) follow from its strata's by independence.
//
// # Negative controls
//
// [Controls] builds the biased estimators the checkers must reject: deterministic top-k,
// sampling without replacement with no rescaling, and two behaviours of the published PyTorch
// code modelled as modified WTA-CRS plans (see [ControlZeroing] and [ControlZeroCache]).
// [ControlStratifiedZeroCache] is the stratified estimator with one shared |C| and the cold-cache
// scaling of the published code in every stratum.
//
// # Cases
//
// [Cases] generates products X·Y with a budget k: heavy-tailed pair norms (log-normal, Zipf),
// padded batches whose padding pairs are exactly zero, a few dominant pairs, near-ties and plain
// Gaussian data, with m from 1 to [MaxPairs] pairs and k from 1 to m. The generator is a
// pgregory.net/rapid generator, used by the tests through rapid.Check and by [Verify] through
// Example with fixed seeds. [StratifiedCases] generates the same products over strata·size
// pairs, 1 to [MaxCaseStrata] strata, with a budget k from 1 to size per stratum.
//
// # Claims
//
// Each claim is a function of one [Case] that returns an [Verdict]: [UnbiasedExact] and
// [UnbiasedMC] (Theorem 1), [Eq3ClosedForm] and [Eq3MC] (Eq. 3), [ClosedFormMC] (closed forms),
// [CheckTheorem2] (Theorem 2 and the |C| rule), [LinearExact] and [LinearMC] (the linear layer),
// [CheckControls] (the negative controls); [StratifiedUnbiasedExact], [StratifiedUnbiasedMC],
// [StratifiedClosedFormMC] and [CheckStratifiedControl] take a [StratifiedCase]. The tests run them as rapid properties; [Verify] runs
// them over a fixed list of cases. A statistical claim takes an [MC] whose Alpha bounds the
// probability of refuting it falsely on that case.
//
// # Findings
//
// [Verify] runs every claim over a number of generated cases and returns a [Report]: per claim
// the verdict, the cases tried, the worst z-score or ratio and the counterexamples, and the
// answer to how often the |C| that minimises Theorem 2's bound also minimises the true variance.
// [Report.WriteFiles] writes it as JSON and Markdown, each atomically.
package theory
