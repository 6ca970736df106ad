"""Checkpoint exchange: the PyTorch reference encoder loads the project's checkpoints and agrees
with the Go model (wtacrs forward) on logits, losses, every parameter's gradient and every
linear layer's H and dZ, on the committed pretrained checkpoint and on random-weight models
written here; perturbed computations fail the same check."""

import json
import os
import shutil
import tempfile
import unittest

import numpy as np
import torch

from helpers import ROOT, report, run_wtacrs
import wtacrs_trace
from wtacrs_trace import checkpoint, safetensors_io
from wtacrs_trace.encoder import Encoder, load_encoder

PRETRAINED = os.path.join(ROOT, "results", "pretrain", "model")
TOL32 = 1e-5
TOL64 = 1e-12


def rel(a, b):
    """max |a - b| / max |b|: the largest difference relative to the reference's scale."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def make_batch(d, vocab, b, s, segments=0, mlm=False, classes=0, seed=0):
    """Write a batch with padding (sequence i keeps s - 3*i tokens, at least 2) into d."""
    rng = np.random.default_rng(seed)
    os.makedirs(d)
    tokens = rng.integers(5, vocab, (b, s))
    mask = np.zeros((b, s), bool)
    for i in range(b):
        mask[i, :max(2, s - 3 * i)] = True
    np.save(os.path.join(d, "tokens.npy"), tokens)
    np.save(os.path.join(d, "mask.npy"), mask)
    out = {"tokens": tokens, "mask": mask, "segments": None, "labels": None, "mlm_targets": None}
    if segments:
        seg = np.minimum(np.arange(s)[None].repeat(b, 0) * segments // s, segments - 1)
        np.save(os.path.join(d, "segments.npy"), seg)
        out["segments"] = seg
    if classes:
        out["labels"] = rng.integers(0, classes, b)
        np.save(os.path.join(d, "labels.npy"), out["labels"])
    if mlm:
        y = -np.ones((b, s), np.int64)
        pick = mask & (rng.random((b, s)) < 0.3)
        pick[:, 1] = True  # at least one predicted position per sequence
        y[pick] = rng.integers(0, vocab, pick.sum())
        out["mlm_targets"] = y
        np.save(os.path.join(d, "mlm_targets.npy"), y)
    return out


def random_checkpoint(path, arch, precision, seed):
    """A checkpoint of arch with every parameter drawn (weights N(0, 0.3^2), biases and gains
    away from 0 and 1), written by this package for the Go model to load."""
    rng = np.random.default_rng(seed)
    dtype = np.float64 if precision == "float64" else np.float32
    tensors = {}
    for name, shape in checkpoint.param_shapes(arch).items():
        if name.endswith(".g"):
            a = 1 + 0.2 * rng.standard_normal(shape)
        elif name.endswith(".b") or name == "mlm.b":
            a = 0.1 * rng.standard_normal(shape)
        else:
            a = 0.3 * rng.standard_normal(shape)
        tensors[name] = a.astype(dtype)
    checkpoint.save(path, tensors, arch, precision, provenance={"extra": {"made_by": "test_parity"}})


class ParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wtacrs-parity-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def go(self, ckpt, batch_dir, *flags):
        out = tempfile.mkdtemp(dir=self.tmp, prefix="go-")
        os.rmdir(out)  # wtacrs forward wants an absent or empty folder; absent here
        run_wtacrs("forward", *flags, ckpt, batch_dir, out)
        with open(os.path.join(out, "result.json")) as f:
            return out, json.load(f)

    def python_run(self, enc, batch, trace_dir=None):
        """Run enc on the batch with forward and backward; return (parts, grads)."""
        tracer = None
        if trace_dir:
            tracer = wtacrs_trace.attach(enc, match="wtacrs", steps=[1], out=trace_dir, auto_step=False)
            tracer.next_step()
            tracer.set_batch(mask=batch["mask"])
        enc.zero_grad(set_to_none=True)
        loss, parts = enc.loss(batch["tokens"], batch["mask"], batch["segments"], batch["labels"], batch["mlm_targets"])
        if batch["labels"] is not None or batch["mlm_targets"] is not None:
            loss.backward()
        if tracer:
            tracer.detach()
        return parts, enc.grads()

    def check_grads(self, go_out, grads, tol, what):
        go_grads, _ = safetensors_io.load(os.path.join(go_out, "grads.safetensors"))
        self.assertEqual(set(go_grads), set(grads))
        top = max(np.abs(g).max() for g in go_grads.values())
        worst = 0.0
        for name, g in go_grads.items():
            if name.endswith(".k.b"):
                # The key bias has a zero gradient in exact arithmetic (softmax ignores a
                # constant added to a row of scores): both sides hold rounding noise only.
                self.assertLess(max(np.abs(g).max(), np.abs(grads[name]).max()), 1e-5 * top, f"{what}: {name}")
                continue
            r = rel(grads[name], g)
            worst = max(worst, r)
            self.assertLess(r, tol, f"{what}: gradient of {name} differs by {r:.3g}")
        return worst

    def check_traces(self, go_trace, py_trace, tol, what):
        """The tracer writes float32, so float64 runs agree to float32 rounding here."""
        worst = 0.0
        layers = sorted(os.listdir(go_trace))
        self.assertEqual(layers, sorted(n for n in os.listdir(py_trace) if not n.startswith(".")))
        for layer in layers:
            for f in ("H.npy", "dZ.npy"):
                r = rel(np.load(os.path.join(py_trace, layer, "step1", f)), np.load(os.path.join(go_trace, layer, "step1", f)))
                worst = max(worst, r)
                self.assertLess(r, tol, f"{what}: {layer} {f} differs by {r:.3g}")
            np.testing.assert_array_equal(np.load(os.path.join(py_trace, layer, "step1", "valid.npy")),
                                          np.load(os.path.join(go_trace, layer, "step1", "valid.npy")))
        return worst

    def test_pretrained_mlm(self):
        """The committed pretrained checkpoint as it is (MLM head tied to the embedding)."""
        _, meta = checkpoint.load(PRETRAINED)
        arch = meta["architecture"]
        bdir = os.path.join(self.tmp, "batch-pre-mlm")
        batch = make_batch(bdir, arch["vocab"], 4, 24, segments=arch["segments"], mlm=True, seed=1)
        for precision, tol in (("float32", TOL32), ("float64", TOL64)):
            go_out, res = self.go(PRETRAINED, bdir, "-trace", "-precision", precision)
            enc, _ = load_encoder(PRETRAINED, dtype=torch.float64 if precision == "float64" else torch.float32)
            py_trace = os.path.join(self.tmp, f"py-trace-pre-{precision}")
            parts, grads = self.python_run(enc, batch, py_trace)
            r_loss = abs(float(parts["mlm_loss"]) - res["mlm_loss"]) / res["mlm_loss"]
            self.assertLess(r_loss, tol)
            g = self.check_grads(go_out, grads, 10 * tol, f"pretrained {precision}")
            t = self.check_traces(os.path.join(go_out, "trace"), py_trace, TOL32, f"pretrained {precision}")
            report(f"pretrained checkpoint, MLM head, {precision}: MLM loss rel diff {r_loss:.2e}; "
                   f"gradients max rel {g:.2e}; H and dZ of all {len(os.listdir(py_trace))} layers max rel {t:.2e}")
            if precision == "float32":
                res_dir = tempfile.mkdtemp(dir=self.tmp, prefix="analyze-")
                run_wtacrs("analyze", "-out", res_dir, "-name", "pre", py_trace)
                self.assertTrue(os.path.exists(os.path.join(res_dir, "pre", "layers.csv")))

    def test_pretrained_with_head(self):
        """The pretrained encoder with a new classification head, as fine-tuning starts it;
        both poolings; plus the negative controls."""
        _, meta = checkpoint.load(PRETRAINED)
        arch = meta["architecture"]
        bdir = os.path.join(self.tmp, "batch-pre-cls")
        batch = make_batch(bdir, arch["vocab"], 5, 32, segments=arch["segments"], classes=2, seed=2)
        for pooling in ("mean", "cls"):
            for precision, tol in (("float32", TOL32), ("float64", TOL64)):
                go_out, res = self.go(PRETRAINED, bdir, "-classes", "2", "-pooling", pooling, "-seed", "7", "-precision", precision)
                go_logits = np.load(os.path.join(go_out, "logits.npy"))
                enc, m2 = load_encoder(os.path.join(go_out, "model"))
                self.assertEqual(m2["precision"], precision)
                self.assertEqual(m2["architecture"]["pooling"], pooling)
                # every encoder tensor is the pretrained checkpoint's
                pre, _ = checkpoint.load(PRETRAINED)
                for name, a in enc.tensors().items():
                    if name in pre:
                        np.testing.assert_array_equal(a, pre[name].astype(a.dtype), name)
                parts, grads = self.python_run(enc, batch)
                r = rel(parts["logits"].detach().numpy(), go_logits)
                self.assertLess(r, tol, f"{pooling} {precision}: logits differ by {r:.3g}")
                r_loss = abs(float(parts["loss"]) - res["loss"]) / res["loss"]
                self.assertLess(r_loss, tol)
                g = self.check_grads(go_out, grads, 10 * tol, f"pretrained+head {pooling} {precision}")
                report(f"pretrained encoder + new head, {pooling} pooling, {precision}: logits max rel diff {r:.2e}, "
                       f"loss {r_loss:.2e}, gradients {g:.2e}")
                if pooling == "mean" and precision == "float32":
                    self.negative_controls(os.path.join(go_out, "model"), batch, go_logits)

    def negative_controls(self, ckpt, batch, go_logits):
        """The same check on perturbed computations: each must exceed the tolerance."""
        tensors, meta = checkpoint.load(ckpt)

        def logits(enc):
            with torch.no_grad():
                return enc(batch["tokens"], batch["mask"], batch["segments"]).numpy()

        t = dict(tensors)
        t["block0.q.w"] = np.ascontiguousarray(t["block0.q.w"].T)  # one weight transposed
        enc = Encoder(meta["architecture"])
        enc.load_tensors(t)
        r_t = rel(logits(enc), go_logits)
        enc = Encoder(meta["architecture"], gelu="erf")
        enc.load_tensors(tensors)
        r_g = rel(logits(enc), go_logits)
        enc = Encoder(meta["architecture"], ln_eps=1e-6)
        enc.load_tensors(tensors)
        r_e = rel(logits(enc), go_logits)
        report(f"negative controls (pretrained + head, mean, float32): block0.q.w transposed {r_t:.2e}, "
               f"erf GELU {r_g:.2e}, LayerNorm eps 1e-6 {r_e:.2e} (tolerance {TOL32:g})")
        for what, r in (("transposed weight", r_t), ("erf GELU", r_g), ("LayerNorm eps", r_e)):
            self.assertGreater(r, TOL32, f"the parity check does not see the {what}")

    def test_random_models(self):
        """Random-weight models written here, loaded by the Go model: cls pooling with an
        untied MLM head (float32), mean pooling with segments (float64)."""
        cases = [
            ({"type": "wtacrs-encoder", "vocab": 97, "dim": 24, "heads": 3, "blocks": 2, "ffn": 40, "max_len": 20,
              "classes": 3, "segments": 0, "pooling": "cls", "mlm_head": "untied"}, "float32", TOL32),
            ({"type": "wtacrs-encoder", "vocab": 61, "dim": 16, "heads": 4, "blocks": 3, "ffn": 24, "max_len": 18,
              "classes": 2, "segments": 3, "pooling": "mean", "mlm_head": "tied"}, "float64", TOL64),
        ]
        for i, (arch, precision, tol) in enumerate(cases):
            ckpt = os.path.join(self.tmp, f"random{i}")
            random_checkpoint(ckpt, arch, precision, seed=10 + i)
            bdir = os.path.join(self.tmp, f"batch-random{i}")
            batch = make_batch(bdir, arch["vocab"], 4, arch["max_len"] - 2, segments=arch["segments"], mlm=True,
                               classes=arch["classes"], seed=3 + i)
            go_out, res = self.go(ckpt, bdir, "-trace")
            self.assertFalse(res["model_saved"])
            enc, _ = load_encoder(ckpt)
            py_trace = os.path.join(self.tmp, f"py-trace-random{i}")
            parts, grads = self.python_run(enc, batch, py_trace)
            r = rel(parts["logits"].detach().numpy(), np.load(os.path.join(go_out, "logits.npy")))
            self.assertLess(r, tol, f"random model {i}: logits differ by {r:.3g}")
            r_loss = max(abs(float(parts["loss"]) - res["loss"]) / res["loss"],
                         abs(float(parts["mlm_loss"]) - res["mlm_loss"]) / res["mlm_loss"])
            self.assertLess(r_loss, tol)
            g = self.check_grads(go_out, grads, 10 * tol, f"random {i}")
            t = self.check_traces(os.path.join(go_out, "trace"), py_trace, TOL32, f"random {i}")
            report(f"random model {i} ({arch['pooling']} pooling, {arch['mlm_head']} MLM head, {precision}, padded batch): "
                   f"logits max rel diff {r:.2e}, losses {r_loss:.2e}, gradients {g:.2e}, H and dZ {t:.2e}")


class CheckpointFileTest(unittest.TestCase):
    def test_round_trip_bytes(self):
        """Loading the pretrained checkpoint and saving its tensors gives the same bytes."""
        tensors, meta = checkpoint.load(PRETRAINED)
        enc, _ = load_encoder(PRETRAINED)
        md = {"wtacrs.format": checkpoint.FORMAT, "wtacrs.meta_sha256": meta["_sha256"]}
        with open(PRETRAINED + ".safetensors", "rb") as f:
            self.assertEqual(safetensors_io.encode(enc.tensors(), md), f.read())

    def test_errors_name_the_tensor(self):
        arch = {"type": "wtacrs-encoder", "vocab": 11, "dim": 8, "heads": 2, "blocks": 1, "ffn": 12, "max_len": 6,
                "classes": 2, "segments": 0, "pooling": "cls", "mlm_head": "none"}
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m")
            random_checkpoint(p, arch, "float32", 0)
            tensors, meta = checkpoint.load(p)
            with self.assertRaises(FileExistsError):
                random_checkpoint(p, arch, "float32", 0)
            bad = dict(tensors, **{"block0.q.w": tensors["block0.q.w"][:, :4]})
            with self.assertRaisesRegex(ValueError, r"tensor 'block0.q.w' is \[8, 4\] but the parameter is \[8, 8\]"):
                Encoder(arch).load_tensors(bad)
            with self.assertRaisesRegex(ValueError, "tensor 'block0.extra.w'"):
                Encoder(arch).load_tensors(dict(tensors, **{"block0.extra.w": tensors["block0.q.w"]}))
            missing = dict(tensors)
            del missing["lnf.g"]
            with self.assertRaisesRegex(ValueError, "no tensor 'lnf.g'"):
                Encoder(arch).load_tensors(missing)
            # tensors rewritten with an unknown name (the JSON kept): refused naming it
            md = {"wtacrs.format": checkpoint.FORMAT, "wtacrs.meta_sha256": meta["_sha256"]}
            safetensors_io.save(p + ".safetensors", dict(tensors, **{"head.extra": tensors["head.b"]}), md)
            with self.assertRaisesRegex(ValueError, "tensor 'head.extra'"):
                checkpoint.load(p)
            p2 = run_wtacrs("forward", p, d, os.path.join(d, "o"), check=False)
            self.assertEqual(p2.returncode, 2)
            self.assertIn("head.extra", p2.stderr)
            # a JSON file that is not the one the tensors were saved with
            safetensors_io.save(p + ".safetensors", tensors, md)
            with open(p + ".json", "a") as f:
                f.write(" ")
            with self.assertRaisesRegex(ValueError, "was not saved with"):
                checkpoint.load(p)


if __name__ == "__main__":
    unittest.main()
