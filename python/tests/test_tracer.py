"""The tracer on small stacks with Hugging Face T5 and BERT module names: the dumped H and dZ
reproduce every weight gradient, the mask is written and honoured, the norms-only mode writes
what layer_step_bytes says, detach() leaves no hook, and wtacrs analyze reads the dumps; the T5
decoder's cross-attention with a mask per layer, its k and v seeing the encoder's tokens."""

import csv
import os
import tempfile
import unittest

import numpy as np
import torch

from helpers import report, run_wtacrs  # helpers puts python/ on sys.path
import tinymodels
import wtacrs_trace
from wtacrs_trace import names

KINDS = wtacrs_trace.KINDS


def train(model, tracer, steps, classes=None, seed=0, b=4, s=8, with_ids=False):
    """Train model for `steps` AdamW steps on fixed batches; return, per step, each traced
    module's weight.grad right after the step's single backward, and the batches."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    grads, batches = [], []
    for step in range(1, steps + 1):
        ids, mask, labels = tinymodels.batch(seed + step, b=b, s=s, classes=classes)
        sample_ids = [(step - 1) % 2 * b + i for i in range(b)] if with_ids else None
        tracer.set_batch(mask=mask, ids=sample_ids)
        opt.zero_grad(set_to_none=True)
        loss = model(ids, mask, labels)
        loss.backward()
        grads.append({name: mod.weight.grad.detach().clone() for name, mod in model.named_modules() if name in tracer.layers})
        batches.append((ids, mask, labels))
        opt.step()
    return grads, batches


def no_hooks(model):
    return all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks for m in model.modules())


def check_cached_norms(out, layer, tokens=None):
    """Steps 1 and 2 of a layer traced over 4 steps, every sample seen at steps 1-2 and again at
    3-4: their cached gradient norms are 1 on valid tokens (the cold cache) and 0 on padding,
    and those of steps 3 and 4 are steps 1 and 2's gradient norms floored at 1e-3 of their mean.
    With tokens, every step's files hold that many rows."""
    for step in (1, 2):
        d = os.path.join(out, layer, f"step{step}")
        valid = np.load(os.path.join(d, "valid.npy"))
        c = np.load(os.path.join(d, "cached_grad_norms.npy"))
        if tokens is not None and (len(valid), len(c)) != (tokens, tokens):
            raise AssertionError(f"{d}: {len(valid)} mask and {len(c)} cached entries, want {tokens}")
        np.testing.assert_array_equal(c[valid], 1.0)
        np.testing.assert_array_equal(c[~valid], 0.0)
        g = np.load(os.path.join(d, "grad_norms.npy"))
        c2 = np.load(os.path.join(out, layer, f"step{step + 2}", "cached_grad_norms.npy"))
        floor = 1e-3 * g[valid].mean()
        np.testing.assert_allclose(c2[valid], np.maximum(g[valid], floor), rtol=1e-6)
        np.testing.assert_array_equal(c2[~valid], 0.0)


class NamesTest(unittest.TestCase):
    def test_presets(self):
        cases = {
            ("t5-encoder", "encoder.block.3.layer.0.SelfAttention.k"): (3, "k"),
            ("t5", "module.encoder.block.0.layer.1.DenseReluDense.wi"): (0, "ffn_in"),
            ("t5", "encoder.block.11.layer.1.DenseReluDense.wi_0"): (11, "ffn_in"),
            ("t5", "encoder.block.11.layer.1.DenseReluDense.wi_1"): None,
            ("t5", "encoder.block.2.layer.1.DenseReluDense.wo"): (2, "ffn_out"),
            ("t5", "decoder.block.0.layer.0.SelfAttention.q"): None,
            ("t5", "decoder.block.0.layer.1.EncDecAttention.q"): None,
            ("t5-decoder", "decoder.block.4.layer.0.SelfAttention.o"): (4, "o"),
            ("t5-decoder", "decoder.block.4.layer.2.DenseReluDense.wo"): (4, "ffn_out"),
            ("t5-decoder", "decoder.block.4.layer.1.EncDecAttention.v"): None,
            ("t5-cross", "decoder.block.4.layer.1.EncDecAttention.v"): (4, "v"),
            ("t5-cross", "model.decoder.block.0.layer.1.EncDecAttention.q"): (0, "q"),
            ("t5-cross", "decoder.block.0.layer.0.SelfAttention.q"): None,
            ("t5-cross", "decoder.block.0.layer.2.DenseReluDense.wi"): None,
            ("t5-cross", "encoder.block.0.layer.0.SelfAttention.k"): None,
            ("bert", "bert.encoder.layer.7.attention.self.query"): (7, "q"),
            ("bert", "roberta.encoder.layer.0.attention.self.value"): (0, "v"),
            ("bert", "bert.encoder.layer.7.attention.output.dense"): (7, "o"),
            ("bert", "bert.encoder.layer.7.intermediate.dense"): (7, "ffn_in"),
            ("bert", "bert.encoder.layer.7.output.dense"): (7, "ffn_out"),
            ("bert", "bert.pooler.dense"): None,
            ("wtacrs", "blocks.1.ffn_in"): (1, "ffn_in"),
            ("wtacrs", "mlm_dense"): None,
        }
        for (preset, name), want in cases.items():
            self.assertEqual(names.layer_of(name, preset), want, (preset, name))
        with self.assertRaisesRegex(ValueError, "unknown preset"):
            names.layer_of("x", "gpt2")

    def test_no_match_and_collision(self):
        model = tinymodels.TinyT5()
        with tempfile.TemporaryDirectory() as out:
            with self.assertRaisesRegex(ValueError, "no nn.Linear module .* matches 'bert'"):
                wtacrs_trace.attach(model, match="bert", out=out)
            with self.assertRaisesRegex(ValueError, "both map to layer block0.q"):
                wtacrs_trace.attach(model, match=lambda n: (0, "q") if n.endswith(".q") else None, out=out)
            self.assertTrue(no_hooks(model))


class TracerTest(unittest.TestCase):
    def check_gradients(self, out, grads, batches, tracer, steps):
        """H^T dZ equals weight.grad^T of every traced module at every recorded step; padding
        rows of dZ are exactly zero and valid.npy is the mask."""
        worst = 0.0
        for step in steps:
            ids, mask, _ = batches[step - 1]
            for name, layer in tracer.layers.items():
                d = os.path.join(out, layer, f"step{step}")
                h = np.load(os.path.join(d, "H.npy"))
                dz = np.load(os.path.join(d, "dZ.npy"))
                valid = np.load(os.path.join(d, "valid.npy"))
                self.assertEqual((h.dtype, dz.dtype, valid.dtype), (np.float32, np.float32, np.bool_))
                self.assertEqual(h.shape[0], ids.numel())
                np.testing.assert_array_equal(valid, mask.reshape(-1).numpy())
                self.assertTrue(np.all(dz[~valid] == 0), f"{d}: padding rows of dZ are not zero")
                want = grads[step - 1][name].double().numpy().T  # torch stores out x in
                got = h.astype(np.float64).T @ dz.astype(np.float64)
                got_valid = h[valid].astype(np.float64).T @ dz[valid].astype(np.float64)
                scale = np.abs(want).max()
                self.assertGreater(scale, 0, f"{name}: zero gradient")
                err = max(np.abs(got - want).max(), np.abs(got_valid - want).max()) / scale
                worst = max(worst, err)
                self.assertLess(err, 1e-5, f"{name} step {step}: H^T dZ differs from weight.grad by {err:.3g} (relative)")
        return worst

    def test_t5_names_full(self):
        torch.manual_seed(0)
        model = tinymodels.TinyT5()
        with tempfile.TemporaryDirectory() as out:
            tracer = wtacrs_trace.attach(model, match="t5-encoder", steps=[1, 3], out=out)
            self.assertEqual(sorted(tracer.layers.values()), sorted(f"block{b}.{k}" for b in range(2) for k in KINDS))
            grads, batches = train(model, tracer, 3)
            tracer.detach()
            self.assertTrue(no_hooks(model))
            self.assertEqual(tracer.step, 3)
            worst = self.check_gradients(out, grads, batches, tracer, [1, 3])
            # negative control: step 1's H^T dZ is not step 3's weight.grad
            h = np.load(os.path.join(out, "block0.q", "step1", "H.npy")).astype(np.float64)
            dz = np.load(os.path.join(out, "block0.q", "step1", "dZ.npy")).astype(np.float64)
            want = grads[2]["encoder.block.0.layer.0.SelfAttention.q"].double().numpy().T
            self.assertGreater(np.abs(h.T @ dz - want).max() / np.abs(want).max(), 1e-2)
            report(f"T5-named stack: max relative |H^T dZ - weight.grad| = {worst:.2e}")
            for layer in tracer.layers.values():
                self.assertEqual(sorted(os.listdir(os.path.join(out, layer))), ["step1", "step3"])
            # bytes: exactly layer_step_bytes per layer and step
            for name, layer in tracer.layers.items():
                m = dict(model.named_modules())[name]
                d = os.path.join(out, layer, "step1")
                size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
                self.assertEqual(size, wtacrs_trace.layer_step_bytes(32, m.in_features, m.out_features, "full", mask=True))
            self.assertEqual(tracer.bytes_written, 2 * tracer_step_bytes(model, tracer, 32, "full"))
            # training after detach records nothing more
            train(model, tracer, 1)
            self.assertEqual(sorted(os.listdir(os.path.join(out, "block0.q"))), ["step1", "step3"])
            res = tempfile.mkdtemp(dir=out, prefix="res-")
            p = run_wtacrs("analyze", "-out", res, "-name", "t5", out)
            self.assertIn("analysed", p.stdout)
            for f in ("layers.csv", "curves.csv", "findings.csv", "summary.md", "manifest.json"):
                self.assertTrue(os.path.exists(os.path.join(res, "t5", f)), f)
            with open(os.path.join(res, "t5", "layers.csv")) as f:
                rows = list(csv.DictReader(f))
            self.assertEqual({r["layer"] for r in rows}, set(tracer.layers.values()))
            self.assertEqual({r["step"] for r in rows}, {"1", "3"})
            ratio_cols = [c for c in rows[0] if "ratio" in c and "exact" in c]
            self.assertTrue(ratio_cols, f"no exact variance ratio column in {list(rows[0])}")
            self.assertTrue(all(r[ratio_cols[0]] not in ("", "NaN") for r in rows), "exact ratios missing")

    def test_bert_names_and_norms(self):
        torch.manual_seed(1)
        full_model = tinymodels.TinyBert()
        norms_model = tinymodels.TinyBert()
        norms_model.load_state_dict(full_model.state_dict())
        with tempfile.TemporaryDirectory() as full, tempfile.TemporaryDirectory() as nrm:
            tf = wtacrs_trace.attach(full_model, match="bert", steps=range(1, 4), out=full)
            tn = wtacrs_trace.attach(norms_model, match="bert", steps=range(1, 4), out=nrm, mode="norms")
            self.assertEqual(sorted(tf.layers.values()), sorted(f"block{b}.{k}" for b in range(2) for k in KINDS))
            grads, batches = train(full_model, tf, 3, classes=2)
            train(norms_model, tn, 3, classes=2)
            tf.detach()
            tn.detach()
            self.assertTrue(no_hooks(full_model) and no_hooks(norms_model))
            worst = self.check_gradients(full, grads, batches, tf, [1, 2, 3])
            report(f"BERT-named stack: max relative |H^T dZ - weight.grad| = {worst:.2e}")
            mods = dict(norms_model.named_modules())
            for name, layer in tn.layers.items():
                for step in (1, 2, 3):
                    d = os.path.join(nrm, layer, f"step{step}")
                    self.assertEqual(sorted(os.listdir(d)), ["act_norms.npy", "grad_norms.npy", "valid.npy"])
                    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
                    self.assertEqual(size, wtacrs_trace.layer_step_bytes(32, mods[name].in_features, mods[name].out_features, "norms"))
                    h = np.load(os.path.join(full, layer, f"step{step}", "H.npy"))
                    dz = np.load(os.path.join(full, layer, f"step{step}", "dZ.npy"))
                    np.testing.assert_allclose(np.load(os.path.join(d, "act_norms.npy")), np.linalg.norm(h, axis=1), rtol=1e-5)
                    np.testing.assert_allclose(np.load(os.path.join(d, "grad_norms.npy")), np.linalg.norm(dz, axis=1), rtol=1e-4, atol=1e-12)
            res = tempfile.mkdtemp(dir=nrm, prefix="res-")
            run_wtacrs("analyze", "-out", res, "-name", "bert-norms", "-sources", "exact", nrm)
            self.assertTrue(os.path.exists(os.path.join(res, "bert-norms", "layers.csv")))

    def test_norms_with_full_steps(self):
        """mode="norms" with full_steps: those steps carry H and dZ, the others norms only, and
        analyze reads the mixture (the exact ratio where H and dZ are given)."""
        torch.manual_seed(5)
        model = tinymodels.TinyT5()
        with tempfile.TemporaryDirectory() as out:
            with self.assertRaisesRegex(ValueError, "full_steps goes with mode='norms'"):
                wtacrs_trace.attach(model, match="t5", out=out, full_steps=[2])
            t = wtacrs_trace.attach(model, match="t5", steps=[1, 3], full_steps=[2], out=out, mode="norms")
            grads, batches = train(model, t, 3)
            t.detach()
            self.assertEqual(sorted(os.listdir(os.path.join(out, "block1.o", "step2"))), ["H.npy", "dZ.npy", "valid.npy"])
            for step in (1, 3):
                self.assertEqual(sorted(os.listdir(os.path.join(out, "block1.o", f"step{step}"))), ["act_norms.npy", "grad_norms.npy", "valid.npy"])
            self.check_gradients(out, grads, batches, t, [2])
            res = tempfile.mkdtemp(dir=out, prefix="res-")
            run_wtacrs("analyze", "-out", res, "-name", "mixed", "-sources", "exact", out)
            with open(os.path.join(res, "mixed", "layers.csv")) as f:
                rows = list(csv.DictReader(f))
            col = [c for c in rows[0] if "ratio" in c and "exact" in c][0]
            with_ratio = {r["step"] for r in rows if r[col] not in ("", "NaN")}
            self.assertEqual(with_ratio, {"2"})

    def test_cached_norms(self):
        """With sample ids the tracer writes Algorithm 1's cached norms: the sample's norms at
        its previous visit for valid tokens (1 while no sample is warm), 0 for padding."""
        torch.manual_seed(2)
        model = tinymodels.TinyT5()
        with tempfile.TemporaryDirectory() as out:
            tracer = wtacrs_trace.attach(model, match="t5", steps=None, out=out, mode="norms")
            # steps 1, 2: samples 0-3, 4-7 (cold); steps 3, 4: the same samples again (warm)
            batches = [tinymodels.batch(s) for s in (1, 2)]
            opt = torch.optim.SGD(model.parameters(), lr=0.0)  # unchanged weights
            for step in range(4):
                ids, mask, labels = batches[step % 2]
                tracer.set_batch(mask=mask, ids=[step % 2 * 4 + i for i in range(4)])
                opt.zero_grad()
                model(ids, mask, labels).backward()
                opt.step()
            tracer.detach()
            for layer in tracer.layers.values():
                check_cached_norms(out, layer)
            res = tempfile.mkdtemp(dir=out, prefix="res-")
            run_wtacrs("analyze", "-out", res, "-name", "cached", out)
            with open(os.path.join(res, "cached", "layers.csv")) as f:
                sources = {r["source"] for r in csv.DictReader(f)}
            self.assertEqual(sources, {"exact", "cached"})

    def test_refuses_and_bounds(self):
        torch.manual_seed(3)
        model = tinymodels.TinyT5()
        with tempfile.TemporaryDirectory() as out:
            t = wtacrs_trace.attach(model, match="t5", steps=[1], out=out)
            train(model, t, 1)
            t.detach()
            before = read_bytes(os.path.join(out, "block0.q", "step1", "H.npy"))
            with self.assertRaisesRegex(FileExistsError, "already holds"):
                wtacrs_trace.attach(model, match="t5", steps=[1], out=out)
            self.assertTrue(no_hooks(model))
            with open(os.path.join(out, "block1.k", "step1", "notes.txt"), "w") as f:
                f.write("mine")
            with self.assertRaisesRegex(FileExistsError, "not trace files"):
                wtacrs_trace.attach(model, match="t5", steps=[1], out=out, overwrite=True)
            os.unlink(os.path.join(out, "block1.k", "step1", "notes.txt"))
            t = wtacrs_trace.attach(model, match="t5", steps=[1], out=out, overwrite=True)
            train(model, t, 1, seed=10)
            t.detach()
            after = read_bytes(os.path.join(out, "block0.q", "step1", "H.npy"))
            self.assertNotEqual(before, after)
            self.assertEqual(sorted(os.listdir(os.path.join(out, "block0.q"))), ["step1"])  # no leftovers
            # a step above max_step_bytes is refused before anything of it is written
            limit = tracer_step_bytes(model, t, 32, "full") - 1
            t = wtacrs_trace.attach(model, match="t5", steps=[1], out=os.path.join(out, "small"), max_step_bytes=limit)
            with self.assertRaisesRegex(ValueError, "above max_step_bytes"):
                train(model, t, 1)
            t.detach()
            self.assertEqual(os.listdir(os.path.join(out, "small")), [])
            # a mask of the wrong size names the module
            t = wtacrs_trace.attach(model, match="t5", steps=[1], out=os.path.join(out, "m"), mask=torch.ones(3, 3))
            with self.assertRaisesRegex(ValueError, "32 tokens .* but 9 entries"):
                train_no_batch(model)
            t.detach()
            # forgetting set_batch after using it is an error, not a stale mask
            t = wtacrs_trace.attach(model, match="t5", steps=[1, 2], out=os.path.join(out, "s"))
            ids, mask, labels = tinymodels.batch(0)
            t.set_batch(mask=mask)
            model(ids, mask, labels).backward()
            with self.assertRaisesRegex(ValueError, "none for this step"):
                model(ids, mask, labels)
            t.detach()
            self.assertTrue(no_hooks(model))

    def test_eval_and_manual_steps(self):
        """Forwards without gradients do not count as steps; auto_step=False counts next_step()."""
        torch.manual_seed(4)
        model = tinymodels.TinyT5()
        with tempfile.TemporaryDirectory() as out:
            t = wtacrs_trace.attach(model, match="t5", steps=[2], out=out, auto_step=False)
            ids, mask, labels = tinymodels.batch(0)
            for _ in range(2):
                t.next_step()
                t.set_batch(mask=mask)
                model(ids, mask, labels).backward()
                with torch.no_grad():
                    model(ids, mask, labels)
            t.detach()
            self.assertEqual(t.step, 2)
            self.assertEqual(sorted(os.listdir(os.path.join(out, "block0.q"))), ["step2"])
            t = wtacrs_trace.attach(model, match="t5", out=os.path.join(out, "auto"))
            model.eval()
            with torch.no_grad():
                model(ids, mask, labels)
            self.assertEqual(t.step, 0)
            model(ids, mask, labels).backward()  # evaluation with gradients: not a step either
            self.assertEqual(t.step, 0)
            model.train()
            t.set_batch(mask=mask)
            model(ids, mask, labels)  # a forward without backward: nothing is written
            with self.assertWarnsRegex(UserWarning, "forward but no backward"):
                t.detach()
            self.assertEqual(t.step, 1)
            self.assertFalse(os.path.exists(os.path.join(out, "auto", "block0.q", "step1")))
            self.assertEqual([n for n in os.listdir(os.path.join(out, "auto", "block0.q")) if n.startswith(".")], [])
            self.assertEqual(len(t.incomplete), len(t.layers))
            # a recorded step, then evaluation with gradients and its backward: no error, no files
            t = wtacrs_trace.attach(model, match="t5", steps=[1, 2], out=os.path.join(out, "evalgrad"))
            t.set_batch(mask=mask)
            model(ids, mask, labels).backward()
            model.eval()
            model(ids, mask, labels).backward()
            model.train()
            t.detach()
            self.assertEqual((t.step, t.incomplete), (1, []))
            self.assertEqual(os.listdir(os.path.join(out, "evalgrad", "block0.q")), ["step1"])


def train_seq2seq(model, tracers, steps, seed=0, with_ids=False, s=8, t=5):
    """AdamW steps of TinyT5Seq2Seq on seq2seq batches; tracers is a list of (tracer,
    masks(encoder mask, decoder mask) -> the mask given to set_batch). Returns, per step, every
    traced module's weight.grad after the step's backward, and (encoder mask, decoder mask)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    traced = {name for tr, _ in tracers for name in tr.layers}
    grads, masks = [], []
    for step in range(1, steps + 1):
        ids, mask, labels = tinymodels.seq2seq_batch(seed + step, s=s, t=t)
        dec = labels != -100
        for tr, pick in tracers:
            tr.set_batch(mask=pick(mask, dec), ids=[(step - 1) % 2 * 4 + i for i in range(4)] if with_ids else None)
        opt.zero_grad(set_to_none=True)
        model(ids, mask, labels).backward()
        grads.append({name: mod.weight.grad.detach().clone() for name, mod in model.named_modules() if name in traced})
        masks.append((mask, dec))
        opt.step()
    return grads, masks


def cross_bytes(model, tracer, enc_tokens, dec_tokens, mode, mask=True, cached=False):
    """The bytes a t5-cross step writes: k and v see the encoder's tokens, q and o the decoder's."""
    mods = dict(model.named_modules())
    return sum(wtacrs_trace.layer_step_bytes(enc_tokens if layer.endswith((".k", ".v")) else dec_tokens,
                                             mods[n].in_features, mods[n].out_features, mode, mask=mask, cached=cached)
               for n, layer in tracer.layers.items())


class CrossAttentionTest(unittest.TestCase):
    """The t5-cross preset on TinyT5Seq2Seq: encoder inputs of 8 positions, targets of 5, 4
    sequences, so that k and v see 32 tokens and q and o 20."""

    def test_refused_beside_decoder(self):
        model = tinymodels.TinyT5Seq2Seq()
        with tempfile.TemporaryDirectory() as out:
            with self.assertRaisesRegex(ValueError, r"both map to layer block0\.q: .*presets 't5-decoder' and 't5-cross' .* of its own"):
                wtacrs_trace.attach(model, match=["t5-decoder", "t5-cross"], out=out)
            with self.assertRaisesRegex(ValueError, r"both map to layer block0\.q"):
                wtacrs_trace.attach(model, match=["t5-encoder", "t5-cross"], out=out)
            self.assertTrue(no_hooks(model))
            self.assertEqual(os.listdir(out), [])

    def test_whole_model_full(self):
        """The encoder, the decoder and the cross-attention traced at once, each into its own
        directory with its own masks: H^T dZ is every weight.grad, each layer's files have its
        own token count and its valid.npy its own mask; wtacrs analyze reads the cross trace."""
        torch.manual_seed(6)
        model = tinymodels.TinyT5Seq2Seq()
        with tempfile.TemporaryDirectory() as out:
            dirs = {p: os.path.join(out, p) for p in ("t5-encoder", "t5-decoder", "t5-cross")}
            enc = wtacrs_trace.attach(model, match="t5-encoder", steps=[1, 3], out=dirs["t5-encoder"])
            dec = wtacrs_trace.attach(model, match="t5-decoder", steps=[1, 3], out=dirs["t5-decoder"])
            cross = wtacrs_trace.attach(model, match="t5-cross", steps=[1, 3], out=dirs["t5-cross"])
            self.assertEqual(sorted(cross.layers.values()), sorted(f"block{b}.{k}" for b in range(2) for k in "qkvo"))
            self.assertEqual(sorted(cross.layers), sorted(f"decoder.block.{b}.layer.1.EncDecAttention.{k}" for b in range(2) for k in "qkvo"))
            grads, masks = train_seq2seq(model, [(enc, lambda e, d: e), (dec, lambda e, d: d), (cross, wtacrs_trace.t5_cross_masks)], 3)
            for t in (enc, dec, cross):
                t.detach()
            self.assertTrue(no_hooks(model))
            worst = 0.0
            for preset, tracer in (("t5-encoder", enc), ("t5-decoder", dec), ("t5-cross", cross)):
                for step in (1, 3):
                    e, d = masks[step - 1]
                    for name, layer in tracer.layers.items():
                        reads_encoder = preset == "t5-encoder" or (preset == "t5-cross" and layer.endswith((".k", ".v")))
                        want_mask = (e if reads_encoder else d).reshape(-1).numpy()
                        path = os.path.join(dirs[preset], layer, f"step{step}")
                        h = np.load(os.path.join(path, "H.npy"))
                        dz = np.load(os.path.join(path, "dZ.npy"))
                        valid = np.load(os.path.join(path, "valid.npy"))
                        self.assertEqual(h.shape[0], 32 if reads_encoder else 20, path)
                        self.assertEqual(dz.shape[0], h.shape[0], path)
                        np.testing.assert_array_equal(valid, want_mask, path)
                        self.assertTrue(np.all(dz[~valid] == 0), f"{path}: padding rows of dZ are not zero")
                        want = grads[step - 1][name].double().numpy().T
                        got = h.astype(np.float64).T @ dz.astype(np.float64)
                        scale = np.abs(want).max()
                        self.assertGreater(scale, 0, f"{name}: zero gradient")
                        err = np.abs(got - want).max() / scale
                        worst = max(worst, err)
                        self.assertLess(err, 1e-5, f"{name} step {step}: H^T dZ differs from weight.grad by {err:.3g} (relative)")
            report(f"T5-named encoder, decoder and cross-attention: max relative |H^T dZ - weight.grad| = {worst:.2e}")
            # the encoder's and the decoder's masks differ, so a mix-up would have shown
            e, d = masks[0]
            self.assertNotEqual(e.sum(1).tolist(), d.sum(1).tolist())
            self.assertEqual(cross.bytes_written, 2 * cross_bytes(model, cross, 32, 20, "full"))
            res = tempfile.mkdtemp(dir=out, prefix="res-")
            run_wtacrs("analyze", "-out", res, "-name", "cross", dirs["t5-cross"])
            with open(os.path.join(res, "cross", "layers.csv")) as f:
                rows = list(csv.DictReader(f))
            self.assertEqual({r["layer"] for r in rows}, set(cross.layers.values()))
            self.assertEqual({r["step"] for r in rows}, {"1", "3"})

    def test_mask_keys(self):
        """A mask dict by kind and by layer name (the name wins), and its refusals: a traced
        layer without a mask, a key naming no traced layer or kind, a mask of the wrong length."""
        torch.manual_seed(7)
        model = tinymodels.TinyT5Seq2Seq()
        ids, e, labels = tinymodels.seq2seq_batch(1)
        d = labels != -100
        with tempfile.TemporaryDirectory() as out:
            t = wtacrs_trace.attach(model, match="t5-cross", steps=[1], out=os.path.join(out, "names"), mode="norms")
            everywhere = torch.ones(4, 5, dtype=torch.bool)
            t.set_batch(mask={"q": d, "o": d, "k": e, "v": e, "block1.q": everywhere})
            model(ids, e, labels).backward()
            t.detach()
            valid = {layer: np.load(os.path.join(out, "names", layer, "step1", "valid.npy")) for layer in t.layers.values()}
            np.testing.assert_array_equal(valid["block1.q"], everywhere.reshape(-1).numpy())
            for b in (0, 1):
                np.testing.assert_array_equal(valid[f"block{b}.o"], d.reshape(-1).numpy())
                np.testing.assert_array_equal(valid[f"block{b}.k"], e.reshape(-1).numpy())
                np.testing.assert_array_equal(valid[f"block{b}.v"], e.reshape(-1).numpy())
            np.testing.assert_array_equal(valid["block0.q"], d.reshape(-1).numpy())
            self.assertEqual(len(valid["block0.q"]), 20)
            self.assertEqual(len(valid["block0.k"]), 32)

            # refusals at set_batch, naming the key or the layer
            t = wtacrs_trace.attach(model, match="t5-cross", out=os.path.join(out, "bad"), mode="norms")
            bad = [
                ({"q": d, "k": e, "v": e}, r"no entry for layer block0\.o \(module 'decoder\.block\.0\.layer\.1\.EncDecAttention\.o'\) and 1 more: key it by kind 'o' or by layer name 'block0\.o'"),
                ({"q": d, "k": e, "v": e, "block0.o": d}, r"no entry for layer block1\.o .*: key it by kind 'o'"),
                ({**wtacrs_trace.t5_cross_masks(e, d), "ffn_in": d}, r"mask key 'ffn_in': no traced layer is of kind ffn_in"),
                ({**wtacrs_trace.t5_cross_masks(e, d), "block7.q": d}, r"mask key 'block7\.q' is neither a layer kind .* nor a traced layer \(traced: block0\.k, "),
                ({**wtacrs_trace.t5_cross_masks(e, d), 0: d}, r"mask key 0 is neither"),
                ({**wtacrs_trace.t5_cross_masks(e, d), "k": None}, r"mask\['k'\] is None"),
            ]
            for mask, rx in bad:
                with self.assertRaisesRegex(ValueError, rx):
                    t.set_batch(mask=mask)
            # at the forward: a mask of the wrong length names the module and the layer
            t.set_batch(mask={"q": d, "o": d, "k": d, "v": d})
            with self.assertRaisesRegex(ValueError, r"decoder\.block\.0\.layer\.1\.EncDecAttention\.k: 32 tokens in its input \(4, 8, 16\) but 20 entries in the step's mask for layer block0\.k"):
                model(ids, e, labels)
            # one mask for every layer cannot fit: the error says what does
            t.set_batch(mask=d)
            with self.assertRaisesRegex(ValueError, r"EncDecAttention\.k: 32 tokens .* but 20 entries in the step's mask: .* need a mask each, a dict by kind or layer name"):
                model(ids, e, labels)
            with self.assertWarnsRegex(UserWarning, "forward but no backward"):  # the q layers that ran
                t.detach()
            # attach's own mask is checked at attach, before any hook is registered
            with self.assertRaisesRegex(ValueError, r"no entry for layer block0\.v"):
                wtacrs_trace.attach(model, match="t5-cross", out=os.path.join(out, "a"), mask={"q": d, "o": d, "k": e})
            self.assertTrue(no_hooks(model))
            # a callable may return a dict; its refusal names the step
            given = [wtacrs_trace.t5_cross_masks(e, d)]
            t = wtacrs_trace.attach(model, match="t5-cross", steps=[1], out=os.path.join(out, "fn"), mode="norms", mask=lambda: given[0])
            model(ids, e, labels).backward()
            given[0] = {"q": d}
            with self.assertRaisesRegex(ValueError, r"step 2: mask has no entry for layer block0\.k"):
                model(ids, e, labels)
            t.detach()
            self.assertTrue(no_hooks(model))
            np.testing.assert_array_equal(np.load(os.path.join(out, "fn", "block1.v", "step1", "valid.npy")), e.reshape(-1).numpy())

    def test_cached_norms(self):
        """Sample ids are the batch's rows for every layer: k and v cache 8 positions per
        sample (the encoder's), q and o 5 (the decoder's); a warm visit writes the norms of the
        sample's previous visit, raised to the floor."""
        torch.manual_seed(8)
        model = tinymodels.TinyT5Seq2Seq()
        with tempfile.TemporaryDirectory() as out:
            t = wtacrs_trace.attach(model, match="t5-cross", out=out, mode="norms")
            batches = [tinymodels.seq2seq_batch(s) for s in (1, 2)]
            opt = torch.optim.SGD(model.parameters(), lr=0.0)  # unchanged weights
            for step in range(4):
                ids, e, labels = batches[step % 2]
                t.set_batch(mask=wtacrs_trace.t5_cross_masks(e, labels != -100), ids=[step % 2 * 4 + i for i in range(4)])
                opt.zero_grad()
                model(ids, e, labels).backward()
                opt.step()
            t.detach()
            for layer in t.layers.values():
                check_cached_norms(out, layer, tokens=32 if layer.endswith((".k", ".v")) else 20)
            res = tempfile.mkdtemp(dir=out, prefix="res-")
            run_wtacrs("analyze", "-out", res, "-name", "cross-cached", out)
            with open(os.path.join(res, "cross-cached", "layers.csv")) as f:
                self.assertEqual({r["source"] for r in csv.DictReader(f)}, {"exact", "cached"})

    def test_step_bound(self):
        """max_step_bytes counts each layer's own tokens: exact from the masks before anything
        is written; without masks checked again as layers run, a refusal leaving nothing."""
        torch.manual_seed(9)
        model = tinymodels.TinyT5Seq2Seq()
        ids, e, labels = tinymodels.seq2seq_batch(1)
        masks = wtacrs_trace.t5_cross_masks(e, labels != -100)
        with tempfile.TemporaryDirectory() as out:
            probe = wtacrs_trace.attach(model, match="t5-cross", steps=[1], out=os.path.join(out, "probe"))
            probe.detach()
            full_masked = cross_bytes(model, probe, 32, 20, "full")
            full_bare = cross_bytes(model, probe, 32, 20, "full", mask=False)
            self.assertGreater(full_bare, cross_bytes(model, probe, 20, 20, "full", mask=False))
            for masked, total in ((True, full_masked), (False, full_bare)):
                where = os.path.join(out, f"tight-{masked}")
                t = wtacrs_trace.attach(model, match="t5-cross", steps=[1], out=where, max_step_bytes=total - 1)
                if masked:
                    t.set_batch(mask=masks)
                    self.assertEqual(t.step_bytes({"q": 20, "o": 20, "k": 32, "v": 32}), full_bare)  # no step begun: no mask yet
                with self.assertRaisesRegex(ValueError, "above max_step_bytes" if masked else r"would write \d+ bytes \(20 to 32 tokens per layer.* above max_step_bytes"):
                    model(ids, e, labels)
                t.detach()  # no warning: nothing of the refused step is left
                self.assertEqual(t.incomplete, [])
                self.assertEqual(os.listdir(where), [])
                where = os.path.join(out, f"fits-{masked}")
                t = wtacrs_trace.attach(model, match="t5-cross", steps=[1], out=where, max_step_bytes=total)
                if masked:
                    t.set_batch(mask=masks)
                model(ids, e, labels).backward()
                t.detach()
                self.assertEqual(t.bytes_written, total)


def tracer_step_bytes(model, tracer, tokens, mode):
    mods = dict(model.named_modules())
    return sum(wtacrs_trace.layer_step_bytes(tokens, mods[n].in_features, mods[n].out_features, mode) for n in tracer.layers)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def train_no_batch(model):
    ids, mask, labels = tinymodels.batch(0)
    model(ids, mask, labels).backward()


if __name__ == "__main__":
    unittest.main()
