package gpu

import "github.com/wtacrs/wtacrs/estimator"

// The constants of gpu/kernels/common.cuh, the table of the kernels (kernels_gen.go) and their
// typed launch methods (launch_gen.go, build tag cuda) are generated from the kernel sources.
//go:generate go run ./internal/cuda2go -dir .

// ptxArchs lists the compute capabilities whose PTX is embedded (gpu/ptx/<file>_sm<cc>.ptx, made
// by scripts/gpu/ptx.sh), best first. The loader takes the first one not above the device's.
var ptxArchs = []int{90, 80}

// kernelID names a kernel of gpu/kernels (kernelNorms, ...).
type kernelID int

// paramKind is how a kernel parameter is passed: each one fills an 8-byte slot.
type paramKind int

const (
	paramPtr     paramKind = iota // a device pointer
	paramInt64                    // long long
	paramUint64                   // unsigned long long
	paramFloat64                  // double
)

// kernelParam is one parameter of a kernel, as its source declares it.
type kernelParam struct {
	name, ctype string
	kind        paramKind
}

// kernelSpec describes a kernel: its entry point, its file gpu/kernels/<file>.cu, its block size
// (its __launch_bounds__) and its parameters in order.
type kernelSpec struct {
	name, file string
	block      int
	params     []kernelParam
}

// chooseMode returns how an estimate over n pairs with options o finds |C|: the number of
// candidates wtacrs_select gathers (0: no selection, CRS) and the mode of wtacrs_choose. It is the
// one statement of the rule, for the device, the host model and the emulation. o must be valid.
func chooseMode(o Options, n int) (cand int, mode int64) {
	switch {
	case o.Method != estimator.MethodWTACRS:
		return 0, chooseRule
	case o.FixedC:
		return o.C, chooseFixed
	case o.K >= n:
		return n, choosePositive
	}
	return o.K - 1, chooseRule
}

// ceilDiv returns ⌈a/b⌉ for a ≥ 0, b ≥ 1.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// cdfBlocks returns the number of blocks of the cumulative sum over n pairs.
func cdfBlocks(n int) int { return ceilDiv(n, cdfBlock) }
