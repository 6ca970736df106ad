"""The PyTorch rendering of the published weight-gradient path (wtacrs_trace.bench_published):
its |C| rule against package estimator's (wtacrs estimate), its exact limit, the unbiased
scaling of its sampled rows, its argument checks and its output file."""

import contextlib
import io
import json
import os
import shutil
import tempfile
import unittest

import numpy as np
import torch

from helpers import report, run_wtacrs
from wtacrs_trace import bench_published as bp


def heavy(n, d, seed):
    """n x d float64 rows with log-normal norms of spread 1.5 (a few dominant rows)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * torch.exp(1.5 * torch.randn(n, 1, generator=g, dtype=torch.float64))


class PublishedRendering(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bench-published-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_c_rule_is_estimators(self):
        # The published adaptive |C| is Theorem 2's rule, which estimator.ChooseC implements:
        # the same |C| on heavy-tailed weights (float64, so that only eps could tell them apart).
        cases = 0
        for seed, n, k in [(1, 64, 8), (2, 64, 20), (3, 200, 30), (4, 200, 60), (5, 500, 50), (6, 40, 39)]:
            h, dz = heavy(n, 6, seed), heavy(n, 5, seed + 100)
            w = torch.linalg.vector_norm(h, dim=1) * torch.linalg.vector_norm(dz, dim=1)
            p = (w + bp.EPS) / (w.sum() + bp.EPS)
            x, y = os.path.join(self.tmp, "x.npy"), os.path.join(self.tmp, "y.npy")
            np.save(x, h.t().contiguous().numpy())
            np.save(y, dz.numpy())
            out = json.loads(run_wtacrs("estimate", "-x", x, "-y", y, "-method", "wtacrs", "-k", k, "-trials", 1).stdout)
            self.assertEqual(bp.adaptive_c(p, k), out["c"], f"seed {seed}, n {n}, k {k}")
            cases += out["c"] > 0
        self.assertGreaterEqual(cases, 4, "the cases should keep some pairs")

    def test_full_budget_is_exact(self):
        h, dz = heavy(50, 7, 1), heavy(50, 3, 2)
        est, c = bp.published_grad_w(h, dz, 50)
        self.assertEqual(c, 50)
        torch.testing.assert_close(est, h.t() @ dz, rtol=0, atol=0)

    def test_expectation_is_the_product(self):
        # With |C| fixed by the weights, the estimate is linear in the draw counts, so its
        # expectation is the kept rows' product plus sum_i P(i) * scale_i * h_i dz_i^T over one
        # draw times the draws: computed exactly here from the rendering's own probabilities.
        # It equals H^T dZ up to eps; a wrong scale (the published (1 - q_C) factor alone) does not.
        n, k = 60, 12
        h, dz = heavy(n, 4, 3), heavy(n, 3, 4)
        cached = torch.linalg.vector_norm(dz, dim=1)
        w = torch.linalg.vector_norm(h, dim=1) * cached
        p = (w + bp.EPS) / (w.sum() + bp.EPS)
        c = bp.adaptive_c(p, k)
        self.assertTrue(0 < c < k, c)
        top = torch.topk(p, c).indices
        rest = p.clone()
        rest[top] = 0
        q_c = p[top].sum()
        draw = rest / rest.sum()  # torch.multinomial's law
        scale = (1 - q_c) / (rest.clamp_min(1e-300) * (k - c))
        exact = h.t() @ dz
        mean = h[top].t() @ dz[top] + (k - c) * (h * (draw * scale).unsqueeze(1)).t() @ dz
        self.assertLess(((mean - exact).abs().max() / exact.abs().max()).item(), 1e-6)
        wrong = h[top].t() @ dz[top] + (k - c) * (h * (draw * (1 - q_c)).unsqueeze(1)).t() @ dz
        self.assertGreater(((wrong - exact).abs().max() / exact.abs().max()).item(), 1e-2)
        # The rendering draws by that law: over T estimates, a fixed projection <est, R> has
        # mean <mean, R> and variance (k - c) Var_i[scale_i <h_i dz_i^T, R>] / T per mean;
        # |z| < 5.5 fails falsely with probability below 4e-8. The wrong scale's mean is
        # rejected by the same threshold.
        r = torch.randn(exact.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
        x = scale * torch.einsum("ti,tj,ij->t", h, dz, r)  # one draw of row t, projected
        var1 = (draw * x * x).sum() - (draw * x).sum() ** 2
        trials = 2000
        gen = torch.Generator().manual_seed(7)
        proj = []
        for _ in range(trials):
            est, c2 = bp.published_grad_w(h, dz, k, cached, gen)
            self.assertEqual(c2, c)
            proj.append((est * r).sum().item())
        se = ((k - c) * var1 / trials).sqrt().item()
        z = (np.mean(proj) - (mean * r).sum().item()) / se
        z_wrong = (np.mean(proj) - (wrong * r).sum().item()) / se
        report(f"published rendering: z = {z:.2f}, negative control z = {z_wrong:.2f}")
        self.assertLess(abs(z), 5.5, f"z = {z:.2f}")
        self.assertGreater(abs(z_wrong), 5.5, f"negative control z = {z_wrong:.2f}")

    def test_arguments(self):
        self.assertEqual(bp.parse_shapes("12800x768x768, 8X2x3"), [(12800, 768, 768), (8, 2, 3)])
        for bad in ["12x3", "ax2x3", "0x2x3", ""]:
            with self.assertRaises(ValueError, msg=bad):
                bp.parse_shapes(bad)
        self.assertEqual(bp.parse_ratios("0.3,1"), [0.3, 1.0])
        for bad in ["0", "1.5", "x", "nan", "-0.1"]:
            with self.assertRaises(ValueError, msg=bad):
                bp.parse_ratios(bad)
        with self.assertRaises(ValueError):
            bp.published_grad_w(torch.ones(4, 2), torch.ones(4, 2), 0)
        with contextlib.redirect_stderr(io.StringIO()) as errs:
            self.assertEqual(bp.main(["--shapes", "12x3"]), 2)
            self.assertEqual(bp.main(["--iters", "0", "--shapes", "8x2x2"]), 2)
        self.assertIn("want NxDINxDOUT", errs.getvalue())
        self.assertIn("--iters 0", errs.getvalue())

    def test_output_file(self):
        out = os.path.join(self.tmp, "published.txt")
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            self.assertEqual(bp.main(["--device", "cpu", "--shapes", "512x16x8", "--ratios", "0.3,0.1", "--iters", "2", "--out", out]), 0)
        with open(out) as f:
            lines = f.read().splitlines()
        self.assertTrue(lines[0].startswith("# torch "), lines[0])
        self.assertEqual(lines[1].split("\t"), ["n", "d_in", "d_out", "ratio", "k", "C", "exact_us", "published_us", "speedup"])
        self.assertEqual(len(lines), 4)
        for line, k in zip(lines[2:], [153, 51]):
            f = line.split("\t")
            self.assertEqual(f[:5], ["512", "16", "8", f[3], str(k)])
            self.assertGreater(float(f[8]), 0)
        self.assertEqual([p for p in os.listdir(self.tmp) if p.startswith(".")], [], "no temporary file left")
        self.assertEqual(printed.getvalue().splitlines(), lines)


if __name__ == "__main__":
    unittest.main()
