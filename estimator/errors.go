package estimator

import (
	"errors"

	"github.com/wtacrs/wtacrs/matrix"
)

// Errors returned by this package, wrapped with context.
var (
	// ErrShape reports matrices whose dimensions do not fit together: [matrix.ErrShape].
	ErrShape = matrix.ErrShape
	// ErrNonFinite reports a NaN or ±Inf in an input: [matrix.ErrNonFinite].
	ErrNonFinite = matrix.ErrNonFinite
	// ErrBudget reports a budget k or a kept-set size |C| out of range.
	ErrBudget = errors.New("estimator: budget out of range")
	// ErrNegative reports a negative norm, weight or scale.
	ErrNegative = errors.New("estimator: negative norm")
	// ErrNoClosedForm reports a closed form that is not available for a plan.
	ErrNoClosedForm = errors.New("estimator: no closed form")
)
