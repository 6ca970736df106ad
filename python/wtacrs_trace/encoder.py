"""A PyTorch reference implementation of the project's encoder (Go package model).

Embeddings: x = tok_emb[token] + pos_emb[position] (+ seg_emb[segment]). Then per block, pre-LN:

    x = x + o(attention(q(LN1(x)), k(LN1(x)), v(LN1(x))))
    x = x + ffn_out(gelu_tanh(ffn_in(LN2(x))))

with LayerNorm eps 1e-5 (biased variance), multi-head attention whose head h reads the columns
h*d_h .. (h+1)*d_h - 1, scores scaled by 1/sqrt(d_h) and padded keys masked out, and the tanh
approximation of GELU. The classification head reads LN_f of position 0 (pooling "cls") or of
the mean of the valid positions ("mean"); the MLM head computes, at predicted positions,
LN_mlm(gelu(LN_f(x) W_d + b_d)) E^T + b (tied: E the token embedding) or ... W_out + b
(untied). Losses are mean cross-entropies: over the sequences for the labels, over the
predicted positions for the MLM targets.

The modules are named blocks.<B>.<kind> (kind q, k, v, o, ffn_in, ffn_out), so that the tracer's
preset "wtacrs" finds them.
"""

import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from . import checkpoint

LN_EPS = 1e-5


class Block(nn.Module):
    """One pre-LN encoder block."""

    def __init__(self, dim, heads, ffn, ln_eps=LN_EPS, gelu="tanh"):
        super().__init__()
        self.heads, self.gelu = heads, gelu
        self.ln1 = nn.LayerNorm(dim, eps=ln_eps)
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.ln2 = nn.LayerNorm(dim, eps=ln_eps)
        self.ffn_in = nn.Linear(dim, ffn)
        self.ffn_out = nn.Linear(ffn, dim)

    def forward(self, x, mask):
        b, s, d = x.shape
        h, dh = self.heads, d // self.heads
        y = self.ln1(x)

        def split(t):
            return t.view(b, s, h, dh).transpose(1, 2)  # B, H, S, d_h

        q, k, v = split(self.q(y)), split(self.k(y)), split(self.v(y))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh)
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, d)
        x = x + self.o(ctx)
        u = self.ffn_in(self.ln2(x))
        a = F.gelu(u, approximate="tanh") if self.gelu == "tanh" else F.gelu(u)
        return x + self.ffn_out(a)


class Encoder(nn.Module):
    """The encoder of an architecture dict (the "architecture" of a checkpoint's JSON file).

    ln_eps and gelu ("tanh" or "erf") exist to show that a changed computation is detected;
    the project's model is ln_eps=1e-5, gelu="tanh"."""

    def __init__(self, arch, ln_eps=LN_EPS, gelu="tanh"):
        super().__init__()
        checkpoint.check_architecture(arch)
        self.arch = dict(arch)
        d = arch["dim"]
        self.tok_emb = nn.Embedding(arch["vocab"], d)
        self.pos_emb = nn.Embedding(arch["max_len"], d)
        self.seg_emb = nn.Embedding(arch["segments"], d) if arch["segments"] > 0 else None
        self.blocks = nn.ModuleList(Block(d, arch["heads"], arch["ffn"], ln_eps, gelu) for _ in range(arch["blocks"]))
        self.lnf = nn.LayerNorm(d, eps=ln_eps)
        self.head = nn.Linear(d, arch["classes"]) if arch["classes"] > 0 else None
        self.gelu = gelu
        if arch["mlm_head"] != "none":
            self.mlm_dense = nn.Linear(d, d)
            self.mlm_ln = nn.LayerNorm(d, eps=ln_eps)
            self.mlm_out = nn.Linear(d, arch["vocab"], bias=False) if arch["mlm_head"] == "untied" else None
            self.mlm_bias = nn.Parameter(torch.zeros(arch["vocab"]))
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """Weights from N(0, 0.02^2), zero biases, unit LayerNorm gains (the Go model's
        initialisation in distribution; the draws differ)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias") or name == "mlm_bias":
                    p.zero_()
                elif ".ln" in name or name.startswith("ln") or name.startswith("mlm_ln"):
                    p.fill_(1.0)
                else:
                    p.normal_(0.0, 0.02, generator=generator)

    # The checkpoint tensors and the modules' parameters: (tensor name, parameter, transposed).
    def _mapping(self):
        out = [("tok_emb", self.tok_emb.weight, False), ("pos_emb", self.pos_emb.weight, False)]
        if self.seg_emb is not None:
            out.append(("seg_emb", self.seg_emb.weight, False))
        for i, b in enumerate(self.blocks):
            p = f"block{i}."
            out += [(p + "ln1.g", b.ln1.weight, False), (p + "ln1.b", b.ln1.bias, False),
                    (p + "ln2.g", b.ln2.weight, False), (p + "ln2.b", b.ln2.bias, False)]
            for k in checkpoint.KINDS:
                lin = getattr(b, k)
                out += [(p + k + ".w", lin.weight, True), (p + k + ".b", lin.bias, False)]
        out += [("lnf.g", self.lnf.weight, False), ("lnf.b", self.lnf.bias, False)]
        if self.head is not None:
            out += [("head.w", self.head.weight, True), ("head.b", self.head.bias, False)]
        if self.arch["mlm_head"] != "none":
            out += [("mlm.dense.w", self.mlm_dense.weight, True), ("mlm.dense.b", self.mlm_dense.bias, False),
                    ("mlm.ln.g", self.mlm_ln.weight, False), ("mlm.ln.b", self.mlm_ln.bias, False),
                    ("mlm.b", self.mlm_bias, False)]
            if self.mlm_out is not None:
                out.append(("mlm.out.w", self.mlm_out.weight, True))
        return out

    def load_tensors(self, tensors):
        """Set every parameter from checkpoint tensors ({name: array in the stored layout}),
        checked first: ValueError naming the tensor for a missing, unknown or misshapen one."""
        checkpoint.check_tensors({k: np.asarray(v) for k, v in tensors.items()}, self.arch,
                                 _precision_of(tensors), "tensors")
        with torch.no_grad():
            for name, param, transposed in self._mapping():
                a = torch.from_numpy(np.array(tensors[name]))
                param.copy_(a.t() if transposed else a.reshape(param.shape))

    def tensors(self, dtype=None):
        """Return the parameters as checkpoint tensors ({name: numpy array}, d_in x d_out
        weights, [1, n] vectors), in the parameters' dtype or the given numpy dtype."""
        shapes = checkpoint.param_shapes(self.arch)
        out = {}
        for name, param, transposed in self._mapping():
            a = param.detach().cpu()
            a = a.t() if transposed else a
            a = a.reshape(shapes[name]).numpy()
            out[name] = np.ascontiguousarray(a if dtype is None else a.astype(dtype))
        return out

    def grads(self):
        """Return the parameters' gradients as checkpoint tensors (zeros where None)."""
        shapes = checkpoint.param_shapes(self.arch)
        out = {}
        for name, param, transposed in self._mapping():
            g = param.grad if param.grad is not None else torch.zeros_like(param)
            g = g.detach().cpu()
            out[name] = np.ascontiguousarray((g.t() if transposed else g).reshape(shapes[name]).numpy())
        return out

    def hidden(self, tokens, mask=None, segments=None):
        """The last block's output, B x S x dim, for token ids (B x S); mask is B x S, True for
        a real token (default: all), and position 0 of every sequence must be real."""
        tokens = torch.as_tensor(tokens, dtype=torch.long, device=self.tok_emb.weight.device)
        b, s = tokens.shape
        if s > self.arch["max_len"]:
            raise ValueError(f"sequences of {s} tokens for a model of {self.arch['max_len']} positions")
        mask = torch.ones_like(tokens, dtype=torch.bool) if mask is None else torch.as_tensor(mask, device=tokens.device).bool()
        if mask.shape != tokens.shape:
            raise ValueError(f"mask shape {tuple(mask.shape)} is not the tokens' {tuple(tokens.shape)}")
        if not bool(mask[:, 0].all()):
            raise ValueError("every sequence's first token must be real (mask[:, 0] all True)")
        x = self.tok_emb(tokens) + self.pos_emb(torch.arange(s, device=tokens.device))[None]
        if self.seg_emb is not None:
            seg = torch.zeros_like(tokens) if segments is None else torch.as_tensor(segments, dtype=torch.long, device=tokens.device)
            x = x + self.seg_emb(seg)
        for blk in self.blocks:
            x = blk(x, mask)
        return x

    def pool(self, x, mask):
        """The pooled rows the classification head reads, before LN_f."""
        if self.arch["pooling"] == "cls":
            return x[:, 0]
        m = mask.to(x.dtype)[..., None]
        return (x * m).sum(1) / m.sum(1)

    def forward(self, tokens, mask=None, segments=None):
        """The classification logits, B x classes."""
        if self.head is None:
            raise ValueError("the model has no classification head (classes 0)")
        tokens = torch.as_tensor(tokens, dtype=torch.long, device=self.tok_emb.weight.device)
        mask = torch.ones_like(tokens, dtype=torch.bool) if mask is None else torch.as_tensor(mask, device=tokens.device).bool()
        x = self.hidden(tokens, mask, segments)
        return self.head(self.lnf(self.pool(x, mask)))

    def mlm_logits(self, x, targets):
        """The MLM logits (P x vocab) of the positions where targets (B x S) is not -1, in
        pooled order t = b*S + s."""
        if self.arch["mlm_head"] == "none":
            raise ValueError("the model has no MLM head")
        rows = x.reshape(-1, x.shape[-1])[torch.as_tensor(targets).reshape(-1).to(x.device) >= 0]
        u = self.mlm_dense(self.lnf(rows))
        h = self.mlm_ln(F.gelu(u, approximate="tanh") if self.gelu == "tanh" else F.gelu(u))
        w = self.mlm_out.weight if self.mlm_out is not None else self.tok_emb.weight
        return h @ w.t() + self.mlm_bias

    def loss(self, tokens, mask=None, segments=None, labels=None, mlm_targets=None):
        """Return (loss, parts): the training loss of the Go model, the mean cross-entropy over
        the sequences (labels) plus that over the predicted positions (mlm_targets, -1 where
        none), and parts {"loss", "mlm_loss", "logits", "mlm_logits"}."""
        tokens = torch.as_tensor(tokens, dtype=torch.long, device=self.tok_emb.weight.device)
        mask = torch.ones_like(tokens, dtype=torch.bool) if mask is None else torch.as_tensor(mask, device=tokens.device).bool()
        x = self.hidden(tokens, mask, segments)
        total = x.new_zeros(())
        parts = {"loss": 0.0, "mlm_loss": 0.0, "logits": None, "mlm_logits": None}
        if self.head is not None:
            logits = self.head(self.lnf(self.pool(x, mask)))
            parts["logits"] = logits
            if labels is not None:
                ce = F.cross_entropy(logits, torch.as_tensor(labels, dtype=torch.long, device=x.device))
                total, parts["loss"] = total + ce, ce
        if mlm_targets is not None:
            t = torch.as_tensor(mlm_targets, dtype=torch.long, device=x.device)
            ml = self.mlm_logits(x, t)
            parts["mlm_logits"] = ml
            if ml.shape[0] > 0:
                ce = F.cross_entropy(ml, t.reshape(-1)[t.reshape(-1) >= 0])
                total, parts["mlm_loss"] = total + ce, ce
        return total, parts


def _precision_of(tensors):
    dtypes = {np.asarray(v).dtype for v in tensors.values()}
    if dtypes == {np.dtype(np.float64)}:
        return "float64"
    return "float32"


def load_encoder(path, dtype=None, ln_eps=LN_EPS, gelu="tanh"):
    """Load the checkpoint path into an Encoder; return (encoder, meta). The encoder's dtype
    is the checkpoint's precision, or dtype (torch.float32 or torch.float64; widening a float32
    checkpoint is exact)."""
    tensors, meta = checkpoint.load(path)
    enc = Encoder(meta["architecture"], ln_eps=ln_eps, gelu=gelu)
    want = dtype or (torch.float64 if meta["precision"] == "float64" else torch.float32)
    enc.to(want)
    np_dtype = np.float64 if want == torch.float64 else np.float32
    if meta["precision"] == "float64" and want != torch.float64:
        raise ValueError(f"{path} is a float64 checkpoint: narrowing it to {want} is not exact")
    enc.load_tensors({k: v.astype(np_dtype) for k, v in tensors.items()})
    return enc, meta


def save_encoder(enc, path, vocab=None, keep_case=False, provenance=None, overwrite=False):
    """Save an Encoder as the checkpoint path, in its dtype (float32 or float64), for the Go
    model (wtacrs train -init PATH, wtacrs forward PATH ...)."""
    dt = enc.tok_emb.weight.dtype
    if dt not in (torch.float32, torch.float64):
        raise ValueError(f"the encoder is {dt}: save it as float32 or float64 (enc.float())")
    precision = "float64" if dt == torch.float64 else "float32"
    checkpoint.save(path, enc.tensors(), enc.arch, precision, vocab=vocab, keep_case=keep_case,
                    provenance=provenance, overwrite=overwrite)
