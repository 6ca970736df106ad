package theory

import (
	"testing"

	"pgregory.net/rapid"
)

// checkLinearExact is property 5, exactly: the expectation of the approximate linear layer's ∇W
// over the sampling, enumerated through LinearForward/LinearBackward, is Hᵀ∇Z for a fixed cache.
// Deterministic.
func checkLinearExact(t *rapid.T) { requireClaim(t, LinearExact) }

func TestLinearExact(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkLinearExact)
}

// checkLinearMC is property 5 by Monte Carlo: the mean ∇W of the layer's sketches passes
// CheckMeanOf and every sketch's ∇H and ∇b are exact. False-failure probability:
// caseAlpha(1e-7) per case, 1e-7 over the property (the ∇H and ∇b comparisons are deterministic).
func checkLinearMC(t *rapid.T) { requireClaimMC(t, LinearMC, alphaLinearMC) }

func TestLinearMonteCarlo(t *testing.T) {
	t.Parallel()
	rapid.Check(t, checkLinearMC)
}
