// Package analysis computes, from the per-token norms of one linear layer at one training step,
// the quantities behind Figures 10–12 of the WTA-CRS paper and Theorem 2.
//
// # Conventions
//
// A layer's pairs are its tokens. The sampling weight of token t is w_t = ‖H_t‖·‖∇Z_t‖ (Eq. 3),
// with either the exact ‖∇Z_t‖ of the step or the cached ‖∇Z_t‖ Algorithm 1 samples with. D is
// the set of pairs analysed (by default the valid, non-padding tokens: see [Select]) and m = |D|.
// p_t = w_t / Σw. C holds the |C| heaviest pairs (ties by smaller index) and P_C = Σ_{c∈C} p_c,
// as in [estimator.TopMass].
//
// [Analyze] returns, for a budget k:
//
//   - the curve P_C against |C|/k for |C| = 0..min(k, m) (Figures 10 and 11), beside the diagonal
//     P_C = |C|/k;
//   - the |C| chosen by [estimator.ChooseC] and P_C there;
//   - whether Theorem 2's condition P_C > |C|/k holds at the chosen |C| (|C| = 0 is plain CRS, for
//     which the condition is false), and the share of |C| in 1..min(k−1, m) where it holds;
//   - the points of that curve at |C| = ⌈0.1·k⌉ and ⌈0.5·k⌉ ([CurveIndex]);
//   - the mass of the top 10% of pairs, P_C with |C| = ⌈0.1·m⌉ (Figure 12);
//   - Theorem 2's bound factor k(1 − P_C)/(k − |C|) at the chosen |C|;
//   - the variance ratio WTA-CRS/CRS from norms alone (see [OrthogonalVarianceRatio]).
//
// The exact closed-form ratio needs the matrices H and ∇Z themselves: [ExactVarianceRatio], with
// the plans built from any sampling weights (the exact or the cached norms). Theorem 2's bound
// holds for it by construction too: its proof (the law of total variance) applies to every p
// and every pair of matrices, so ratio ≤ bound is never a finding.
//
// [TInterval] summarises one quantity over independent replicates (training seeds): the mean
// with a Student t confidence interval.
//
// Every function validates its input and returns an error wrapping [ErrInput] (or an estimator
// error) rather than panicking. Nothing here is random.
package analysis
