//go:build gpuemu

package gpu

// The kernels of gpu/kernels run on the CPU through scripts/gpu/emu (every GPU thread an OS
// thread): the device pipeline's weights, kept set, draws, scales and gathered rows against
// package estimator, without a GPU. Needs g++ with C++20; run with
//   go test -tags gpuemu -run Emulated ./gpu/

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/estimator"
	"github.com/wtacrs/wtacrs/matrix"
)

type emuOut struct {
	w        []float64
	c        int64
	tdraw    float64
	rowIdx   []int32
	rowScale []float64
	hs, gs   []float32
}

func runEmu(t *testing.T, bin string, h, g matrix.Dense[float32], opts Options, seed, stream uint64) emuOut {
	n, k := h.Rows, opts.K
	cand, mode := chooseMode(opts, n)
	var in bytes.Buffer
	le := binary.LittleEndian
	for _, v := range []int64{int64(n), int64(h.Cols), int64(g.Cols), int64(k), int64(cand), mode} {
		require.NoError(t, binary.Write(&in, le, v))
	}
	require.NoError(t, binary.Write(&in, le, []uint64{seed, stream}))
	require.NoError(t, binary.Write(&in, le, h.Data))
	require.NoError(t, binary.Write(&in, le, g.Data))
	cmd := exec.Command(bin)
	cmd.Stdin = &in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), errb.String())
	o := emuOut{w: make([]float64, n), rowIdx: make([]int32, k), rowScale: make([]float64, k),
		hs: make([]float32, k*h.Cols), gs: make([]float32, k*g.Cols)}
	for _, p := range []any{o.w, &o.c, &o.tdraw, o.rowIdx, o.rowScale, o.hs, o.gs} {
		require.NoError(t, binary.Read(&out, le, p))
	}
	return o
}

func TestEmulatedKernelsMatchEstimator(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "emu")
	build := exec.Command("g++", "-std=c++20", "-O1", "-pthread", "-o", bin, "main.cc")
	build.Dir = filepath.Join("..", "scripts", "gpu", "emu")
	msg, err := build.CombinedOutput()
	require.NoError(t, err, string(msg))

	// The last shape has several rank blocks and slices and several CDF thread blocks.
	shapes := []struct{ n, dIn, dOut int }{{1500, 12, 8}, {300, 5, 3}, {4500, 4, 4}}
	for _, sh := range shapes {
		h, g := randomPair(17, sh.n, sh.dIn, sh.dOut)
		cpuW, err := estimator.WeightsTransA(h, g)
		require.NoError(t, err)
		cases := []struct {
			name string
			opts Options
		}{
			{"wtacrs/k=0.3n", wtacrs(sh.n * 3 / 10)},
			{"wtacrs/k=0.1n", wtacrs(sh.n / 10)},
			{"wtacrs/fixed", wtacrsFixed(sh.n/10, sh.n/40)},
			{"wtacrs/k>n", wtacrs(sh.n + 3)},
			{"wtacrs/k=1", wtacrs(1)},
			{"crs", crs(sh.n / 10)},
		}
		if sh.n > 4000 {
			cases = cases[:1]
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("n=%d/%s", sh.n, tc.name), func(t *testing.T) {
				const seed, stream = 99, 4
				o := runEmu(t, bin, h, g, tc.opts, seed, stream)
				k := tc.opts.K
				for i := range cpuW {
					require.InDelta(t, cpuW[i], o.w[i], 1e-5*cpuW[i]+1e-30, "weight %d", i)
				}
				plan, sk := cpuTrace(t, o.w, tc.opts, seed, stream)
				if autoC(tc.opts, sh.n) {
					want, err := estimator.ChooseC(o.w, k)
					require.NoError(t, err)
					require.Equal(t, int64(want), o.c, "|C|")
				}
				tr := &Trace{Weights: o.w, DrawTotal: o.tdraw}
				nc := int(o.c)
				for r := 0; r < nc; r++ {
					tr.Kept = append(tr.Kept, int(o.rowIdx[r]))
					require.Equal(t, 1.0, o.rowScale[r])
				}
				if o.tdraw > 0 {
					for r := nc; r < k; r++ {
						tr.Draws = append(tr.Draws, int(o.rowIdx[r]))
						tr.Scales = append(tr.Scales, o.rowScale[r])
					}
				} else {
					for r := nc; r < k; r++ {
						require.Equal(t, int32(-1), o.rowIdx[r], "row %d past the sketch", r)
					}
				}
				requireSameAsCPU(t, tr, plan, sk)
				ref := hostTrace(t, o.w, tc.opts, seed, stream)
				require.Equal(t, ref.DrawTotal, o.tdraw)
				// Gathered rows: H rows times the float32 scale, G rows copied, zeros past the sketch.
				for r := 0; r < k; r++ {
					i := int(o.rowIdx[r])
					for j := 0; j < sh.dIn; j++ {
						want := float32(0)
						if i >= 0 {
							want = h.Data[i*sh.dIn+j] * float32(o.rowScale[r])
						}
						require.Equal(t, math.Float32bits(want), math.Float32bits(o.hs[r*sh.dIn+j]), "Hs[%d,%d]", r, j)
					}
					for j := 0; j < sh.dOut; j++ {
						want := float32(0)
						if i >= 0 {
							want = g.Data[i*sh.dOut+j]
						}
						require.Equal(t, want, o.gs[r*sh.dOut+j], "Gs[%d,%d]", r, j)
					}
				}
				t.Logf("|C| = %d, draws = %d", nc, len(tr.Draws))
			})
		}
	}
}
