"""Small attention stacks with the module names of Hugging Face T5 and BERT, built here from
torch alone (no transformers), for the tracer's tests."""

import math

import torch
from torch import nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    """T5's LayerNorm: scale only, no mean subtraction, no bias."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class T5Attention(nn.Module):
    """Multi-head attention of x's queries over kv's keys and values (kv = x for
    self-attention); mask is B x (kv's length), causal hides later positions."""

    def __init__(self, d, heads, causal=False):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x, mask, kv=None):
        kv = x if kv is None else kv
        b, s, d = x.shape
        h = self.heads

        def split(t):
            return t.view(b, t.shape[1], h, d // h).transpose(1, 2)

        scores = split(self.q(x)) @ split(self.k(kv)).transpose(-1, -2)  # T5 does not scale
        hide = ~mask[:, None, None, :]
        if self.causal:
            hide = hide | torch.ones(s, s, dtype=torch.bool).triu(1)
        scores = scores + hide.to(x.dtype) * torch.finfo(x.dtype).min
        ctx = torch.softmax(scores, -1) @ split(self.v(kv))
        return self.o(ctx.transpose(1, 2).reshape(b, s, d))


class T5LayerSelfAttention(nn.Module):
    def __init__(self, d, heads, causal=False):
        super().__init__()
        self.SelfAttention = T5Attention(d, heads, causal)
        self.layer_norm = RMSNorm(d)

    def forward(self, x, mask):
        return x + self.SelfAttention(self.layer_norm(x), mask)


class T5LayerCrossAttention(nn.Module):
    """The decoder's attention over the encoder's output: q and o see the decoder's tokens,
    k and v the encoder's."""

    def __init__(self, d, heads):
        super().__init__()
        self.EncDecAttention = T5Attention(d, heads)
        self.layer_norm = RMSNorm(d)

    def forward(self, x, enc, enc_mask):
        return x + self.EncDecAttention(self.layer_norm(x), enc_mask, kv=enc)


class DenseReluDense(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.wi = nn.Linear(d, f, bias=False)
        self.wo = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.wo(F.relu(self.wi(x)))


class T5LayerFF(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.DenseReluDense = DenseReluDense(d, f)
        self.layer_norm = RMSNorm(d)

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class T5Block(nn.Module):
    def __init__(self, d, heads, f):
        super().__init__()
        self.layer = nn.ModuleList([T5LayerSelfAttention(d, heads), T5LayerFF(d, f)])

    def forward(self, x, mask):
        return self.layer[1](self.layer[0](x, mask))


class T5Stack(nn.Module):
    def __init__(self, d, heads, f, blocks):
        super().__init__()
        self.block = nn.ModuleList(T5Block(d, heads, f) for _ in range(blocks))
        self.final_layer_norm = RMSNorm(d)

    def forward(self, x, mask):
        for b in self.block:
            x = b(x, mask)
        return self.final_layer_norm(x)


class T5DecoderBlock(nn.Module):
    def __init__(self, d, heads, f):
        super().__init__()
        self.layer = nn.ModuleList([T5LayerSelfAttention(d, heads, causal=True), T5LayerCrossAttention(d, heads), T5LayerFF(d, f)])

    def forward(self, x, mask, enc, enc_mask):
        return self.layer[2](self.layer[1](self.layer[0](x, mask), enc, enc_mask))


class T5DecoderStack(nn.Module):
    def __init__(self, d, heads, f, blocks):
        super().__init__()
        self.block = nn.ModuleList(T5DecoderBlock(d, heads, f) for _ in range(blocks))
        self.final_layer_norm = RMSNorm(d)

    def forward(self, x, mask, enc, enc_mask):
        for b in self.block:
            x = b(x, mask, enc, enc_mask)
        return self.final_layer_norm(x)


class TinyT5(nn.Module):
    """Embedding, a T5 encoder stack and a token-level head whose loss is the mean over the
    real tokens (labels -100 elsewhere), as T5's loss is a mean over target tokens."""

    def __init__(self, vocab=50, d=16, heads=2, f=32, blocks=2):
        super().__init__()
        self.shared = nn.Embedding(vocab, d)
        self.encoder = T5Stack(d, heads, f, blocks)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, input_ids, attention_mask, labels):
        x = self.encoder(self.shared(input_ids), attention_mask.bool())
        logits = self.lm_head(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


class TinyT5Seq2Seq(nn.Module):
    """Embedding, a T5 encoder and decoder (self-attention, cross-attention over the encoder's
    output, feed-forward) and an LM head; the decoder reads the labels shifted right (0 first,
    0 at padding) and the loss is the mean over the target tokens (labels != -100)."""

    def __init__(self, vocab=50, d=16, heads=2, f=32, blocks=2):
        super().__init__()
        self.shared = nn.Embedding(vocab, d)
        self.encoder = T5Stack(d, heads, f, blocks)
        self.decoder = T5DecoderStack(d, heads, f, blocks)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, input_ids, attention_mask, labels):
        enc_mask = attention_mask.bool()
        enc = self.encoder(self.shared(input_ids), enc_mask)
        dec_mask = labels != -100
        dec_in = torch.cat([torch.zeros_like(labels[:, :1]), labels[:, :-1].clamp(min=0)], 1)
        x = self.decoder(self.shared(dec_in), dec_mask, enc, enc_mask)
        logits = self.lm_head(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


class BertSelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, mask):
        b, s, d = x.shape
        h = self.heads

        def split(t):
            return t.view(b, s, h, d // h).transpose(1, 2)

        scores = split(self.query(x)) @ split(self.key(x)).transpose(-1, -2) / math.sqrt(d // h)
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        return (torch.softmax(scores, -1) @ split(self.value(x))).transpose(1, 2).reshape(b, s, d)


class BertSelfOutput(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.dense = nn.Linear(d, d)
        self.LayerNorm = nn.LayerNorm(d)


class BertAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.self = BertSelfAttention(d, heads)
        self.output = BertSelfOutput(d)

    def forward(self, x, mask):
        return self.output.LayerNorm(x + self.output.dense(self.self(x, mask)))


class BertIntermediate(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.dense = nn.Linear(d, f)


class BertOutput(nn.Module):
    def __init__(self, f, d):
        super().__init__()
        self.dense = nn.Linear(f, d)
        self.LayerNorm = nn.LayerNorm(d)


class BertLayer(nn.Module):
    def __init__(self, d, heads, f):
        super().__init__()
        self.attention = BertAttention(d, heads)
        self.intermediate = BertIntermediate(d, f)
        self.output = BertOutput(f, d)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output.LayerNorm(a + self.output.dense(F.gelu(self.intermediate.dense(a))))


class BertEncoder(nn.Module):
    def __init__(self, d, heads, f, blocks):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(d, heads, f) for _ in range(blocks))


class BertModel(nn.Module):
    def __init__(self, vocab, d, heads, f, blocks):
        super().__init__()
        self.embeddings = nn.Embedding(vocab, d)
        self.encoder = BertEncoder(d, heads, f, blocks)

    def forward(self, ids, mask):
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x


class TinyBert(nn.Module):
    """A BERT sequence classifier reading position 0."""

    def __init__(self, vocab=50, d=16, heads=2, f=32, blocks=2, classes=2):
        super().__init__()
        self.bert = BertModel(vocab, d, heads, f, blocks)
        self.classifier = nn.Linear(d, classes)

    def forward(self, input_ids, attention_mask, labels):
        x = self.bert(input_ids, attention_mask.bool())
        return F.cross_entropy(self.classifier(x[:, 0]), labels)


def batch(seed, b=4, s=8, vocab=50, classes=None):
    """A batch with padding: sequence i has s - i % 3 * 2 real tokens (at least 2)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (b, s), generator=g)
    mask = torch.zeros(b, s, dtype=torch.bool)
    for i in range(b):
        mask[i, :max(2, s - (i % 3) * 2)] = True
    ids = ids.masked_fill(~mask, 0)
    if classes:
        labels = torch.randint(0, classes, (b,), generator=g)
    else:
        labels = torch.randint(1, vocab, (b, s), generator=g).masked_fill(~mask, -100)
    return ids, mask, labels


def seq2seq_batch(seed, b=4, s=8, t=5, vocab=50):
    """A batch for TinyT5Seq2Seq: the encoder's input as batch() pads it (B x s) and targets of
    another length (B x t, -100 at padding) whose padding differs from the input's: target i
    has t - (i + 1) % 3 real tokens (at least 2)."""
    ids, mask, _ = batch(seed, b=b, s=s, vocab=vocab)
    g = torch.Generator().manual_seed(seed + 1000)
    labels = torch.randint(1, vocab, (b, t), generator=g)
    dec_mask = torch.zeros(b, t, dtype=torch.bool)
    for i in range(b):
        dec_mask[i, :max(2, t - (i + 1) % 3)] = True
    return ids, mask, labels.masked_fill(~dec_mask, -100)
