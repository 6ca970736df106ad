package estimator

import (
	"fmt"
	"math"
)

// Budget is the one rule that turns a fraction into a budget everywhere in the project (the
// kept tokens of a WTA-CRS layer, k = ratio·n, and the analysed budgets of Figures 10–12,
// k = 0.1|D| and 0.5|D|): k = ⌈fraction·n⌉ clamped to [1, n], so that at least the fraction is
// kept. A product that lands within 1e-9 above an integer (0.3·10 = 3.0000000000000004) counts
// as that integer. It needs n ≥ 1 and 0 < fraction ≤ 1 and returns ErrBudget otherwise.
func Budget(fraction float64, n int) (int, error) {
	if n < 1 || !(fraction > 0 && fraction <= 1) {
		return 0, fmt.Errorf("%w: budget fraction %v of %d pairs (want a fraction in (0, 1] of at least one pair)", ErrBudget, fraction, n)
	}
	k := int(math.Ceil(fraction*float64(n) - 1e-9))
	return min(max(k, 1), n), nil
}
