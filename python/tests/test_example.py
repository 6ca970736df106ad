"""The training loop of python/examples/t5_rte.py on a stack with T5's module names (the
example's main() needs transformers and datasets, which are not installed here)."""

import csv
import os
import sys
import tempfile
import types
import unittest

import numpy as np
import torch
from torch import nn

from helpers import ROOT, run_wtacrs
import tinymodels
import wtacrs_trace

sys.path.insert(0, os.path.join(ROOT, "python", "examples"))
import t5_rte  # noqa: E402


class T5Like(nn.Module):
    """TinyT5 (or TinyT5Seq2Seq) called as a Hugging Face model is: keyword arguments in, an
    object with .loss out."""

    def __init__(self, seq2seq=False):
        super().__init__()
        self.t5 = tinymodels.TinyT5Seq2Seq() if seq2seq else tinymodels.TinyT5()

    def forward(self, input_ids, attention_mask, labels):
        return types.SimpleNamespace(loss=self.t5(input_ids, attention_mask, labels))


def batches(seq2seq=False):
    for step in range(100):
        ids, mask, labels = (tinymodels.seq2seq_batch if seq2seq else tinymodels.batch)(step % 3)
        yield {"input_ids": ids, "attention_mask": mask.long(), "labels": labels,
               "idx": torch.arange(4) + 4 * (step % 3)}


class ExampleTest(unittest.TestCase):
    def test_train_loop(self):
        torch.manual_seed(0)
        model = T5Like()
        with tempfile.TemporaryDirectory() as out:
            tracer = wtacrs_trace.attach(model, match="t5-encoder", steps=range(1, 10, 2), full_steps=range(1, 10, 4),
                                         out=os.path.join(out, "trace"), mode="norms")
            losses = t5_rte.train(model, batches(), tracer, 9, lr=1e-2, log=lambda s: None)
            tracer.detach()
            self.assertEqual(len(losses), 9)
            self.assertLess(losses[-1], losses[0])
            self.assertEqual(sorted(os.listdir(os.path.join(out, "trace", "block0.q"))), ["step1", "step3", "step5", "step7", "step9"])
            self.assertIn("H.npy", os.listdir(os.path.join(out, "trace", "block0.q", "step5")))
            self.assertIn("cached_grad_norms.npy", os.listdir(os.path.join(out, "trace", "block0.q", "step7")))
            run_wtacrs("analyze", "-out", out, "-name", "t5-rte", os.path.join(out, "trace"))
            for f in ("curves_k0.1_exact.png", "curves_k0.5_exact.png", "top10_exact.png", "layers.csv"):
                self.assertTrue(os.path.exists(os.path.join(out, "t5-rte", f)), f)
            run_wtacrs("plot", os.path.join(out, "t5-rte"))
            with open(os.path.join(out, "t5-rte", "layers.csv")) as f:
                self.assertEqual({r["source"] for r in csv.DictReader(f)}, {"exact", "cached"})

    def test_train_loop_cross(self):
        """--part t5-cross: the loop gives the cross-attention the encoder's mask for k and v
        and the targets' for q and o."""
        torch.manual_seed(1)
        model = T5Like(seq2seq=True)
        with tempfile.TemporaryDirectory() as out:
            trace = os.path.join(out, "trace")
            tracer = wtacrs_trace.attach(model, match="t5-cross", steps=range(1, 6, 2), full_steps=[1], out=trace, mode="norms")
            losses = t5_rte.train(model, batches(seq2seq=True), tracer, 5, lr=1e-2, part="t5-cross", log=lambda s: None)
            tracer.detach()
            self.assertLess(losses[-1], losses[0])
            ids, mask, labels = tinymodels.seq2seq_batch(2)  # step 3's batch
            for layer, want in (("block1.k", mask), ("block1.v", mask), ("block1.q", labels != -100), ("block0.o", labels != -100)):
                d = os.path.join(trace, layer, "step3")
                self.assertEqual(sorted(os.listdir(d)), ["act_norms.npy", "cached_grad_norms.npy", "grad_norms.npy", "valid.npy"])
                np.testing.assert_array_equal(np.load(os.path.join(d, "valid.npy")), want.reshape(-1).numpy(), layer)
            run_wtacrs("analyze", "-out", out, "-name", "t5-rte-cross", trace)
            with open(os.path.join(out, "t5-rte-cross", "layers.csv")) as f:
                self.assertEqual({r["source"] for r in csv.DictReader(f)}, {"exact", "cached"})


if __name__ == "__main__":
    unittest.main()
