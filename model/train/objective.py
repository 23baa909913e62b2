"""The masked-diffusion objective: batches (mask ratio, span infills) and their losses.

Objective (LLaDA / MDLM style): pick a mask ratio t ~ U(0, 1), mask each token with probability t,
and minimise cross-entropy on the masked tokens weighted by 1/t. A share of the examples
(`span_fraction`) are span infills instead: gaps shaped like a user's (lines, a whole body,
several holes at once: model.train.spans) are cut out, each padded with a random number of null
tokens, and only those regions are masked, so the model learns both to write a gap and to say
where it ends.

A masked-LM objective gives a gradient only at masked positions and must first learn to attend
before it beats unigram statistics; on a CPU budget of ~10M tokens that plateau eats the run.
So the first `ar_fraction` of the steps train the same weights autoregressively (causal mask,
every position a target), then switch to the diffusion objective with shifted logits: position
i is predicted from the hidden state at i-1, the adaptation Dream and DiffuCoder use to start a
diffusion model from an autoregressive one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.tokenizer import CodeTokenizer, SpecialIds
from model.train.corpus import SourceFile
from model.train.spans import cut_spans, pad_spans, vocab_tables
from model.transformer import DiffusionLM

MIN_T = 0.02  # the lowest mask ratio: 1/t weights stay bounded


@dataclass
class TrainConfig:
    """The objective's and the optimizer's settings; `fillgap train` sets seq_len, batch_size,
    steps, lr, ar_fraction and seed (model.train.options), the rest are fixed here."""

    seq_len: int = 256
    batch_size: int = 16
    steps: int = 2000
    lr: float = 3e-3
    warmup: int = 100  # steps of linear learning-rate warm-up before the cosine decay
    weight_decay: float = 0.1
    span_fraction: float = 0.5  # share of the examples that are span infills
    ar_fraction: float = 0.3  # share of the steps trained autoregressively first
    max_span_tokens: int = 64
    max_nulls: int = 32  # padding after a span: the model learns where a gap ends
    seed: int = 0


class TokenStream:
    """All documents of a split as one int32 array, EOS between files, and the vocabulary tables
    that cutting gaps on line boundaries needs (model.train.spans)."""

    def __init__(self, files: list[SourceFile], tok: CodeTokenizer) -> None:
        eos = tok.specials.eos
        assert eos is not None
        pieces = []
        for ids in tok.encode_batch([f.text for f in files]):
            pieces.append(np.asarray(ids + [eos], dtype=np.int32))
        self.ids = np.concatenate(pieces)
        self.vocab = vocab_tables(tok.tok.get_vocab(), tok.vocab_size, tok.tok.token_to_id("Ċ"))


def _span_example(
    window: np.ndarray, stream: TokenStream, cfg: TrainConfig, rng: random.Random, null_id: int
) -> tuple[np.ndarray, list[tuple[int, int]]] | None:
    """Gaps of a user's shape cut out of the window and padded with nulls: (ids, regions)."""
    spans, nulls = cut_spans(window, stream.vocab, rng, cfg.max_span_tokens, cfg.max_nulls)
    if not spans:
        return None
    ids, regions = pad_spans(window, spans, nulls, null_id)
    regions = [(a, b) for a, b in regions if b > a]
    return (ids, regions) if regions else None


def make_batch(
    stream: TokenStream,
    cfg: TrainConfig,
    specials: SpecialIds,
    rng: random.Random,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noisy ids, clean ids, loss weights, masked) for one batch."""
    L = cfg.seq_len
    clean, noisy, weight = [], [], []
    u = rng.random()
    for i in range(cfg.batch_size):
        off = rng.randrange(0, len(stream.ids) - L - 1)
        window = stream.ids[off : off + L]
        regions = [(0, L)]
        if rng.random() < cfg.span_fraction and specials.null is not None:
            made = _span_example(window, stream, cfg, rng, specials.null)
            if made is not None:
                window, regions = made
        t = MIN_T + (1 - MIN_T) * ((i + u) / cfg.batch_size)  # stratified over the batch: lower variance
        x = torch.from_numpy(window.astype(np.int64))
        in_region = torch.zeros(L, dtype=torch.bool)
        for a, b in regions:
            in_region[a:b] = True
        masked = (torch.rand(L) < t) & in_region
        if not masked.any():
            a, b = rng.choice(regions)
            masked[rng.randrange(a, b)] = True
        n_region = max(1, int(in_region.sum()))
        clean.append(x)
        noisy.append(torch.where(masked, torch.full_like(x, specials.mask), x))
        weight.append(masked.float() / (t * n_region))
    return torch.stack(noisy), torch.stack(clean), torch.stack(weight), torch.stack(weight) > 0


def ar_batch(stream: TokenStream, cfg: TrainConfig, rng: random.Random) -> torch.Tensor:
    """Plain windows of the stream for the autoregressive phase."""
    offs = [rng.randrange(0, len(stream.ids) - cfg.seq_len - 1) for _ in range(cfg.batch_size)]
    return torch.from_numpy(np.stack([stream.ids[o : o + cfg.seq_len] for o in offs]).astype(np.int64))


def ar_loss(model: DiffusionLM, ids: torch.Tensor) -> torch.Tensor:
    """Next-token loss with a causal mask: the raw logits at i score token i+1."""
    logits = model(ids, causal=True)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())


def weighted_loss(logits: torch.Tensor, clean: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at the masked positions, each weighted as `make_batch` says, per row."""
    ce = F.cross_entropy(logits.flatten(0, 1).float(), clean.flatten(), reduction="none")
    return (ce * weight.flatten()).sum() / logits.shape[0]


def diffusion_loss(model: DiffusionLM, noisy: torch.Tensor, clean: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The diffusion objective of one batch from `make_batch`. Only the masked positions go
    through the output layer: a gap-shaped example masks a few dozen of its 256 tokens, and the
    8,192-wide output layer costs more per position than all of a small model's blocks."""
    rows, cols = torch.nonzero(weight > 0, as_tuple=True)
    logits = model.token_logits(noisy, cols=(rows, cols))
    ce = F.cross_entropy(logits.float(), clean[rows, cols], reduction="none")
    return (ce * weight[rows, cols]).sum() / noisy.shape[0]
