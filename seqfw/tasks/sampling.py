"""Sampling novel sequences from a language model (course 1.7).

    x<1> = start token; for t = 1, 2, ...:
        ŷ<t> = softmax(logits<t> / temperature)    with P(<unk>) = P(<pad>) = 0, renormalised
        y<t> ~ ŷ<t>;  x<t+1> = y<t>                  the sample is fed back in
    stop at <eos> or after max_len tokens

Zeroing ``<unk>`` and renormalising draws exactly what resampling until a
non-``<unk>`` token would, without a loop. All sequences of a batch are drawn
in parallel; a seeded host generator makes the draws reproducible.
"""
from __future__ import annotations

import numpy as np

from ..engine.backend import to_host
from ..engine.errors import SettingError
from ..engine.models.decoding import extend_unfinished
from .vocab import EOS, PAD, UNK, Vocab


def sample_ids(model, params, vocab: Vocab, starts: list[int], max_len: int, temperature: float,
               rng: np.random.Generator, xp, never: tuple[str, ...] = ()) -> list[list[int]]:
    """One sequence per start token id; each ends before its ``<eos>`` (not included) or at ``max_len``.

    ``never`` names further tokens that must not be emitted (a one-to-many task's class tokens).
    """
    if not temperature > 0:
        raise SettingError("sample_ids", "temperature", temperature, "must be > 0")
    if max_len < 1:
        raise SettingError("sample_ids", "max_len", max_len, "must be >= 1")
    banned = [vocab.stoi[t] for t in (UNK, PAD, *never) if t in vocab.stoi]
    eos = vocab.stoi[EOS]
    B = len(starts)
    tokens = np.asarray(starts)
    out: list[list[int]] = [[] for _ in range(B)]
    done = np.zeros(B, dtype=bool)
    state = None
    for _ in range(max_len):
        logits, state = model.logits(params, xp.asarray(tokens[None, :]), None, state)
        z = to_host(logits[0]).astype(np.float64) / temperature  # (B, V)
        z[:, banned] = -np.inf
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        tokens = np.array([rng.choice(p.shape[1], p=row) for row in p])  # banned ids have p = 0
        extend_unfinished(out, done, tokens, eos)
        if done.all():
            break
    return out
