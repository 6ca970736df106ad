package gpu

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
)

// ptxEntry is a kernel entry point of a PTX file.
type ptxEntry struct {
	params  []string // the PTX types of the parameters: .u64, .f64, ...
	maxntid int      // the block size of .maxntid, 0 when absent
}

var (
	ptxEntryRE   = regexp.MustCompile(`(?s)\.visible\s+\.entry\s+(\w+)\s*\((.*?)\)\s*((?:\.\w+[^\n{]*\n\s*)*)\{`)
	ptxParamRE   = regexp.MustCompile(`\.param\s+(\.\w+)\s+\w+`)
	ptxMaxntidRE = regexp.MustCompile(`\.maxntid\s+(\d+)\s*,\s*(\d+)\s*,\s*(\d+)`)
)

// parsePTX returns the entry points of a PTX file.
func parsePTX(src string) map[string]ptxEntry {
	out := map[string]ptxEntry{}
	for _, m := range ptxEntryRE.FindAllStringSubmatch(src, -1) {
		var e ptxEntry
		for _, p := range ptxParamRE.FindAllStringSubmatch(m[2], -1) {
			e.params = append(e.params, p[1])
		}
		if t := ptxMaxntidRE.FindStringSubmatch(m[3]); t != nil {
			x, _ := strconv.Atoi(t[1])
			y, _ := strconv.Atoi(t[2])
			z, _ := strconv.Atoi(t[3])
			e.maxntid = x * y * z
		}
		out[m[1]] = e
	}
	return out
}

// ptxTypes are the PTX parameter types each kind of kernel parameter may have: 8 bytes each.
var ptxTypes = map[paramKind][]string{
	paramPtr:     {".u64", ".b64", ".s64"},
	paramInt64:   {".u64", ".b64", ".s64"},
	paramUint64:  {".u64", ".b64", ".s64"},
	paramFloat64: {".f64", ".b64"},
}

// TestKernelsMatchPTX checks the generated kernel table, which the typed launch methods follow,
// against every committed PTX file: each file of every compute capability of ptxArchs holds
// exactly the kernels of its .cu file, with the parameters of the table (count and 8-byte types)
// and the block size of the table as .maxntid.
func TestKernelsMatchPTX(t *testing.T) {
	t.Parallel()
	byFile := map[string][]kernelID{}
	for id := range kernelID(numKernels) {
		byFile[kernelSpecs[id].file] = append(byFile[kernelSpecs[id].file], id)
	}
	for file, ids := range byFile {
		for _, arch := range ptxArchs {
			name := fmt.Sprintf("%s_sm%d.ptx", file, arch)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				data, err := os.ReadFile(filepath.Join("ptx", name))
				require.NoError(t, err, "run scripts/gpu/ptx.sh")
				src := string(data)
				require.Contains(t, src, "NVIDIA", "%s: PTX not written by nvcc (run scripts/gpu/ptx.sh)", name)
				require.Contains(t, src, fmt.Sprintf(".target sm_%d", arch))
				entries := parsePTX(src)
				var want []string
				for _, id := range ids {
					spec := kernelSpecs[id]
					want = append(want, spec.name)
					e, ok := entries[spec.name]
					require.True(t, ok, "entry %s missing", spec.name)
					require.Len(t, e.params, len(spec.params), "parameters of %s", spec.name)
					for i, p := range spec.params {
						assert.Contains(t, ptxTypes[p.kind], e.params[i], "%s parameter %d (%s %s)", spec.name, i, p.ctype, p.name)
					}
					assert.Equal(t, spec.block, e.maxntid, "block size of %s (.maxntid, from __launch_bounds__)", spec.name)
				}
				got := make([]string, 0, len(entries))
				for name := range entries {
					got = append(got, name)
				}
				slices.Sort(got)
				slices.Sort(want)
				assert.Equal(t, want, got, "entry points of %s", name)
			})
		}
	}
}

// The PTX parser finds what TestKernelsMatchPTX checks, and the check rejects a stale file.
func TestParsePTX(t *testing.T) {
	t.Parallel()
	src := `.visible .entry wtacrs_x(
	.param .u64 wtacrs_x_param_0,
	.param .f64 wtacrs_x_param_1
)
.maxntid 256, 1, 1
{
	ret;
}
.visible .entry wtacrs_y(
	.param .u32 wtacrs_y_param_0
)
{
}`
	got := parsePTX(src)
	assert.Equal(t, map[string]ptxEntry{
		"wtacrs_x": {params: []string{".u64", ".f64"}, maxntid: 256},
		"wtacrs_y": {params: []string{".u32"}},
	}, got)
	assert.NotContains(t, ptxTypes[paramInt64], got["wtacrs_y"].params[0], "a 4-byte parameter must be rejected")
}

// The generated constants agree with the Go side they mirror.
func TestKernelConstants(t *testing.T) {
	t.Parallel()
	assert.Equal(t, estimator.CDFBlock, cdfBlock, "WTACRS_CDF_BLOCK against estimator.CDFBlock")
	for id := range kernelID(numKernels) {
		spec := kernelSpecs[id]
		assert.True(t, spec.block > 0 && spec.block%32 == 0 && spec.block <= 1024, "%s: block %d", spec.name, spec.block)
		assert.True(t, strings.HasPrefix(spec.name, "wtacrs_"), spec.name)
		assert.LessOrEqual(t, len(spec.params), maxKernelParams)
	}
	assert.Equal(t, normsThreads, kernelSpecs[kernelNorms].block)
	assert.Equal(t, rankThreads*rankPerThread, rankTile)
}
