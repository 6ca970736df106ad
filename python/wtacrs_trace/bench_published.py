"""Time the published WTA-CRS code's weight-gradient path, rendered in PyTorch, against the exact
GEMM on one device, at the shapes of package gpu's BenchmarkGradW, and print one line per shape
and budget with both times and their ratio.

The published linear layer (Liu et al., NeurIPS 2023, its `approxlinear` module) picks the rows
in forward and multiplies them in backward. This module renders both halves as one call,
`published_grad_w`, in the order the published code runs them:

  1. p_t = (||H_t|| * b_t + eps) / (sum_t ||H_t|| * b_t + eps), b_t the cached gradient norms
     (the activation norms alone when no cache is given), eps = 1e-8;
  2. |C| by the published adaptive rule: the k largest p, sorted, their running sums q_c, the
     argmin over c of (1 - q_c) / (k - c) for c = 1..k (c = k divides by zero: +inf, or -inf
     when rounding lifts q_k above 1, which keeps all k), and |C| = 0 when 1/k is below that
     minimum;
  3. the |C| largest by torch.topk, their indices sorted, the kept rows of H gathered;
  4. the other k - |C| rows drawn with replacement by torch.multinomial from p with C zeroed,
     sorted, gathered and scaled by (1 - q_|C|) / (p_i (k - |C|)), and zeroed altogether when
     q_|C| > 1 - 1e-3 (the published "long tail" rule);
  5. dW = dZ[C]^T H[C] + dZ[S]^T (scaled H[S]), two GEMMs and a sum.

It is a rendering for timing, written for this project, not the published code itself: the
published layer keeps the gathered rows between forward and backward, which changes what it
stores, not what it computes. Its estimate is unbiased up to eps and the long-tail rule (package
estimator's WTA-CRS has neither).

    python3 -m wtacrs_trace.bench_published [--device cuda] [--shapes 12800x768x768,...]
        [--ratios 0.3,0.1] [--iters 20] [--seed 1] [--out FILE]

Times are medians over --iters calls of each, the two alternating, measured with CUDA events on
a GPU (the wall clock after a synchronisation elsewhere). H and dZ are float32 Gaussian rows
scaled by log-normal token norms, as BenchmarkGradW's are; the cached norms are those of dZ.
"""

import argparse
import math
import statistics
import sys
import time

import torch

try:
    from .fileio import write_bytes_atomic
except ImportError:  # run as a script: its folder is on the path
    from fileio import write_bytes_atomic

EPS = 1e-8
LONG_TAIL = 1e-3
DEFAULT_SHAPES = "12800x768x768,12800x768x3072,51200x1024x1024"
DEFAULT_RATIOS = "0.3,0.1"


def parse_shapes(text):
    """Parse "NxDINxDOUT,..." into a list of (n, d_in, d_out), each >= 1."""
    shapes = []
    for part in text.split(","):
        dims = part.strip().lower().split("x")
        if len(dims) != 3:
            raise ValueError(f"shape {part!r}: want NxDINxDOUT, such as 12800x768x768")
        try:
            n, d_in, d_out = (int(d) for d in dims)
        except ValueError:
            raise ValueError(f"shape {part!r}: want three integers, such as 12800x768x768") from None
        if min(n, d_in, d_out) < 1:
            raise ValueError(f"shape {part!r}: every dimension must be at least 1")
        shapes.append((n, d_in, d_out))
    return shapes


def parse_ratios(text):
    """Parse "0.3,0.1" into a list of budget fractions in (0, 1]."""
    ratios = []
    for part in text.split(","):
        try:
            r = float(part)
        except ValueError:
            raise ValueError(f"ratio {part!r}: want a number in (0, 1]") from None
        if not 0 < r <= 1 or math.isnan(r):
            raise ValueError(f"ratio {part!r}: want a number in (0, 1]")
        ratios.append(r)
    return ratios


def budget(ratio, n):
    """The published budget k = int(ratio * n), at least 1 and at most n (its minimal_k is 1 here)."""
    return min(max(int(n * ratio), 1), n)


def adaptive_c(p, k):
    """The published |C| for probabilities p and budget k, 0 <= |C| <= k (k only when rounding
    lifts the sum of the k largest p above 1)."""
    top, _ = torch.topk(p, k)
    top, _ = torch.sort(top, descending=True)
    q = torch.cumsum(top, dim=0)
    denom = k - torch.arange(1, k + 1, device=p.device, dtype=p.dtype)
    score = (1 - q) / denom  # c = k divides by zero
    score = torch.where(torch.isnan(score), torch.full_like(score, math.inf), score)  # 0/0
    best, at = score.min(dim=0)
    return 0 if 1 / k < best.item() else int(at.item()) + 1


def published_grad_w(h, dz, k, cached=None, generator=None):
    """The published code's estimate of dW^T = H^T dZ (d_in x d_out) from n x d_in H and
    n x d_out dZ with budget k (1 <= k <= n) and the cached gradient norms `cached` (n values;
    None: the activation norms alone). Returns (estimate, |C|). With k = n it is H^T dZ."""
    n = h.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k = {k}: want 1 <= k <= n = {n}")
    if k == n:
        return h.t() @ dz, n
    w = torch.linalg.vector_norm(h, dim=1)
    if cached is not None:
        w = w * cached
    p = (w + EPS) / (w.sum() + EPS)
    c = adaptive_c(p, k)
    out = None
    q_c = 0.0
    rest = p
    if c > 0:
        top_p, top_i = torch.topk(p, c)
        top_i, _ = torch.sort(top_i)
        out = h.index_select(0, top_i).t() @ dz.index_select(0, top_i)
        q_c = top_p.sum()
        rest = p.scatter(0, top_i, torch.zeros_like(top_p))
    draws = k - c
    if draws > 0:
        idx = torch.multinomial(rest, draws, replacement=True, generator=generator)
        idx, _ = torch.sort(idx)
        scale = (1 - q_c) / (rest.index_select(0, idx) * draws)
        if c > 0:
            scale = scale * (q_c <= 1 - LONG_TAIL).to(scale.dtype)
        part = (h.index_select(0, idx) * scale.unsqueeze(1)).t() @ dz.index_select(0, idx)
        out = part if out is None else out + part
    return out, c


def make_inputs(n, d_in, d_out, device, seed):
    """float32 H (n x d_in) and dZ (n x d_out): Gaussian rows scaled by log-normal norms."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    h = torch.randn(n, d_in, generator=g) * torch.exp(torch.randn(n, 1, generator=g))
    dz = torch.randn(n, d_out, generator=g) * torch.exp(torch.randn(n, 1, generator=g))
    return h.to(device), dz.to(device)


class Timer:
    """Times a function on a device: CUDA events on a GPU, the wall clock otherwise."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"

    def __call__(self, fn):
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) * 1e3  # microseconds
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e6


def describe(device):
    """A line naming torch, the device and, on a GPU, its name and CUDA release."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(dev)}"
    return f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads"


def run(shapes, ratios, device, iters, seed):
    """Time every shape and ratio; yield the result lines (the header first)."""
    timer = Timer(device)
    yield f"# {describe(device)}; float32; medians over {iters} calls; published rendering vs exact H^T dZ"
    yield "n\td_in\td_out\tratio\tk\tC\texact_us\tpublished_us\tspeedup"
    gen = torch.Generator(device=device).manual_seed(seed)
    for n, d_in, d_out in shapes:
        h, dz = make_inputs(n, d_in, d_out, device, seed)
        cached = torch.linalg.vector_norm(dz, dim=1)
        for ratio in ratios:
            k = budget(ratio, n)
            exact = lambda: h.t() @ dz  # noqa: E731
            state = {}

            def approx():
                state["c"] = published_grad_w(h, dz, k, cached, gen)[1]

            for _ in range(3):  # warm-up: kernels, cuBLAS workspace, caching allocator
                exact()
                approx()
            te, ta = [], []
            for i in range(iters):
                if i % 2 == 0:
                    te.append(timer(exact))
                    ta.append(timer(approx))
                else:
                    ta.append(timer(approx))
                    te.append(timer(exact))
            me, ma = statistics.median(te), statistics.median(ta)
            yield f"{n}\t{d_in}\t{d_out}\t{ratio:g}\t{k}\t{state['c']}\t{me:.1f}\t{ma:.1f}\t{me / ma:.3f}"
        del h, dz, cached


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--shapes", default=DEFAULT_SHAPES, help="NxDINxDOUT,... (default: %(default)s)")
    ap.add_argument("--ratios", default=DEFAULT_RATIOS, help="budget fractions k/n (default: %(default)s)")
    ap.add_argument("--iters", type=int, default=20, help="timed calls of each, after 3 warm-up calls")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="also write the lines to this file (atomically)")
    args = ap.parse_args(argv)
    try:
        shapes, ratios = parse_shapes(args.shapes), parse_ratios(args.ratios)
        if args.iters < 1:
            raise ValueError(f"--iters {args.iters}: want at least 1")
        dev = torch.device(args.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda: torch sees no CUDA device")
    except (ValueError, RuntimeError) as e:
        print(f"bench_published: {e}", file=sys.stderr)
        return 2
    lines = []
    for line in run(shapes, ratios, args.device, args.iters, args.seed):
        print(line, flush=True)
        lines.append(line)
    if args.out:
        write_bytes_atomic(args.out, ("\n".join(lines) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
