"""Time a training step (forward, backward, gradient clipping, AdamW) of the reference encoder on
the CPU and print tokens per second, for comparison with the Go side's
`go test -run '^$' -bench BenchmarkStepMethods ./train/` (its "exact" method).

The defaults are that benchmark's: the model of train.DefaultConfig (vocab 8000, dim 128, 4 heads,
2 blocks, FFN 512, 128 positions, 2 segments, 2 classes, [CLS] pooling, float32), a batch of 16
sequences of 128 tokens of which the last quarter is padding, labels i % 2, AdamW with
learning rate 1e-4, betas (0.9, 0.999), eps 1e-8, no weight decay, the gradient norm clipped to 1.

    python3 -m wtacrs_trace.bench_step [--checkpoint PATH] [--threads 2] [--steps 20]

With --checkpoint the model is that checkpoint's (a classification head of 2 classes is added
when it has none, as fine-tuning does).
"""

import argparse
import time

import numpy as np
import torch

from .encoder import Encoder, load_encoder

DEFAULT_ARCH = {"type": "wtacrs-encoder", "vocab": 8000, "dim": 128, "heads": 4, "blocks": 2, "ffn": 512,
                "max_len": 128, "classes": 2, "segments": 2, "pooling": "cls", "mlm_head": "none"}


def build(checkpoint=None, dtype=torch.float32):
    if checkpoint is None:
        torch.manual_seed(1)
        return Encoder(DEFAULT_ARCH).to(dtype)
    enc, meta = load_encoder(checkpoint, dtype=dtype)
    if meta["architecture"]["classes"] > 0:
        return enc
    arch = dict(meta["architecture"], classes=2, mlm_head="none")
    torch.manual_seed(1)
    head = Encoder(arch).to(dtype)
    tensors = {k: v for k, v in enc.tensors().items() if not k.startswith("mlm.")}
    tensors.update({k: v for k, v in head.tensors().items() if k.startswith("head.")})
    head.load_tensors(tensors)
    return head


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="checkpoint PATH (NAME.safetensors with NAME.json); default: a random model of train.DefaultConfig's sizes")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--padding", type=float, default=0.25, help="the share of every sequence that is padding (at its end)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--steps", type=int, default=20, help="timed steps, after 2 warm-up steps")
    ap.add_argument("--float64", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = torch.float64 if args.float64 else torch.float32
    enc = build(args.checkpoint, dtype)
    arch = enc.arch
    rng = np.random.default_rng(1)
    b, s = args.batch, args.seq
    tokens = torch.from_numpy(rng.integers(0, arch["vocab"], (b, s)))
    mask = torch.from_numpy(np.arange(s)[None].repeat(b, 0) < s - int(s * args.padding))
    labels = torch.arange(b) % 2
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def step():
        opt.zero_grad(set_to_none=True)
        loss, _ = enc.loss(tokens, mask, None, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {dtype}; model dim {arch['dim']}, heads {arch['heads']}, "
          f"blocks {arch['blocks']}, ffn {arch['ffn']}, vocab {arch['vocab']}; batch {b}x{s} ({int(mask.sum())} real tokens)")
    print(f"step (forward, backward, clip, AdamW): median {med * 1e3:.1f} ms over {args.steps} steps "
          f"(min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f})")
    print(f"tokens/s: {b * s / med:.0f} (all {b * s} positions), {int(mask.sum()) / med:.0f} (real tokens)")


if __name__ == "__main__":
    main()
