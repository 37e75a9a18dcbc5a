"""Sampling novel sequences from a language model (course 1.7).

    x<1> = start token; for t = 1, 2, ...:
        ŷ<t> = softmax(logits<t> / temperature)    with P(<unk>) = P(<pad>) = 0, renormalised
        y<t> ~ ŷ<t>;  x<t+1> = y<t>                  the sample is fed back in
    stop at <eos> or after max_len tokens

Zeroing ``<unk>`` and renormalising draws exactly what resampling until a
non-``<unk>`` token would, without a loop. All sequences of a batch are drawn
in parallel; a seeded host generator makes the draws reproducible.

Temperature 0 is greedy decoding: y<t> = the most likely allowed token (arg-max), the
limit of softmax(z / T) as T -> 0, so every seed gives the same sequence. The logits are
shifted so that the best allowed one is 0 *before* dividing by T: then no T, however
small, overflows (z / T only goes to -inf, probability 0), and a tiny T samples exactly
what greedy picks.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..engine.backend import to_host
from ..engine.errors import SettingError
from ..engine.models.decoding import extend_unfinished
from .vocab import EOS, PAD, UNK, Vocab

# Samples are drawn as one batch, each (B, V) step on the host in float64: bounded so that a typo
# (``-n 1000000000``) is refused instead of allocating for minutes. Both are far above any use here.
MAX_SAMPLES = 10_000
MAX_SAMPLE_LEN = 10_000


def sample_ids(model, params, vocab: Vocab, starts: list[int], max_len: int, temperature: float,
               rng: np.random.Generator, xp, never: tuple[str, ...] = ()) -> list[list[int]]:
    """One sequence per start token id; each ends before its ``<eos>`` (not included) or at ``max_len``.

    ``never`` names further tokens that must not be emitted (a one-to-many task's class tokens).
    ``temperature`` 0 is greedy (``rng`` is then not used).
    """
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not math.isfinite(temperature) or temperature < 0:
        raise SettingError("sample_ids", "temperature", temperature, "must be a finite number >= 0 (0: greedy)")
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
        tokens = next_tokens(to_host(logits[0]), banned, temperature, rng)
        extend_unfinished(out, done, tokens, eos)
        if done.all():
            break
    return out


def next_tokens(logits, banned: list[int], temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One token id per row of ``logits`` (B, V), never a ``banned`` one: the arg-max for temperature 0,
    else a draw from softmax(logits / temperature)."""
    z = logits.astype(np.float64)
    z[:, banned] = -np.inf
    z -= z.max(axis=1, keepdims=True)  # the best allowed token at 0, the rest below: z / T cannot overflow up
    if temperature == 0:
        return z.argmax(axis=1)
    with np.errstate(over="ignore", under="ignore"):  # a tiny T sends z / T to -inf: probability 0, as it should
        p = np.exp(z / temperature)
    p /= p.sum(axis=1, keepdims=True)  # >= 1 before this: the best token contributes exp(0)
    return np.array([rng.choice(p.shape[1], p=row) for row in p])  # banned ids have p = 0
