"""Fine-tune a Hugging Face T5 on RTE (GLUE) with the tracer attached, for wtacrs analyze.

Needs transformers, datasets and sentencepiece besides torch and numpy; they are not installed
where the project's tests run, so main() is not run there, but the loop `train` is (on a stack
with T5's module names, python/tests/test_example.py). Commands: README, "PyTorch bridge".

    python3 python/examples/t5_rte.py --model t5-base --steps 300 --every 5 --full-every 100 \
        --out traces/t5-base-rte
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import wtacrs_trace  # noqa: E402

LABELS = ("entailment", "not_entailment")  # RTE's label 0 and 1, as T5's text targets


def rte_batches(tokenizer, batch_size, max_len, seed):
    """Endless shuffled batches of RTE's training set in T5's text format
    ("rte sentence1: ... sentence2: ..." -> "entailment" / "not_entailment"), padded to the
    longest sequence of the batch; every batch has input_ids, attention_mask, labels (-100 at
    padding) and idx (the dataset index of each example, for the cached norms)."""
    from datasets import load_dataset

    ds = load_dataset("glue", "rte", split="train")
    g = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(ds), generator=g).tolist()
        for at in range(0, len(order) - batch_size + 1, batch_size):
            rows = ds[order[at:at + batch_size]]
            src = [f"rte sentence1: {a} sentence2: {b}" for a, b in zip(rows["sentence1"], rows["sentence2"])]
            enc = tokenizer(src, max_length=max_len, truncation=True, padding="longest", return_tensors="pt")
            tgt = tokenizer([LABELS[y] for y in rows["label"]], padding="longest", return_tensors="pt")
            labels = tgt["input_ids"].masked_fill(tgt["attention_mask"] == 0, -100)
            yield {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels,
                   "idx": torch.tensor(rows["idx"])}


def train(model, batches, tracer, steps, lr=1e-4, device="cpu", part="t5-encoder", log=print):
    """AdamW steps on batches with the tracer given each step's mask and sample ids: the
    encoder's attention mask for the encoder's layers, the target tokens (labels != -100) for
    the decoder's, both for the cross-attention's (k and v read the encoder's output). Returns
    the losses."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    losses = []
    for step, batch in zip(range(1, steps + 1), batches):
        batch = {k: v.to(device) for k, v in batch.items()}
        if part == "t5-cross":
            mask = wtacrs_trace.t5_cross_masks(batch["attention_mask"], batch["labels"] != -100)
        elif part == "t5-decoder":
            mask = batch["labels"] != -100
        else:
            mask = batch["attention_mask"]
        tracer.set_batch(mask=mask, ids=batch["idx"])
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(out.loss))
        if step % 10 == 0 or step == steps:
            log(f"step {step}: loss {losses[-1]:.4f}, traced steps written {len(tracer.written) // len(tracer.layers)}")
    return losses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="t5-base", help="a Hugging Face T5 checkpoint name or folder")
    ap.add_argument("--out", required=True, help="the trace directory (for wtacrs analyze)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=5, help="record every N-th step (1, 1+N, ...)")
    ap.add_argument("--full-every", type=int, default=0, help="write H and dZ in full every N-th step (0: norms only)")
    ap.add_argument("--part", default="t5-encoder", choices=["t5-encoder", "t5-decoder", "t5-cross"],
                    help="the layers traced: the encoder's, the decoder's self-attention and feed-forward, or its cross-attention")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-step-bytes", type=float, default=4e9, help="refuse a recorded step above this many bytes")
    args = ap.parse_args(argv)
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = T5ForConditionalGeneration.from_pretrained(args.model).to(device)
    full = range(1, args.steps + 1, args.full_every) if args.full_every > 0 else None
    tracer = wtacrs_trace.attach(model, match=args.part, steps=range(1, args.steps + 1, args.every), full_steps=full,
                                 out=args.out, mode="norms", max_step_bytes=int(args.max_step_bytes))
    try:
        train(model, rte_batches(tokenizer, args.batch_size, args.max_len, args.seed), tracer, args.steps,
              lr=args.lr, device=device, part=args.part)
    finally:
        tracer.detach()
    print(f"wrote {len(tracer.written)} layer-steps, {tracer.bytes_written} bytes, to {args.out}")


if __name__ == "__main__":
    main()
