"""Sampling novel sequences from a language model (course 1.7), with the usual decoding controls.

    x<1> = start token; for t = 1, 2, ...:
        ŷ<t> = softmax(logits<t> / temperature)    with P(<unk>) = P(<pad>) = 0, renormalised
        y<t> ~ ŷ<t>;  x<t+1> = y<t>                  the sample is fed back in
    stop at <eos> or after max_len tokens

Zeroing ``<unk>`` and renormalising draws exactly what resampling until a
non-``<unk>`` token would, without a loop. All sequences of a batch are drawn
in parallel; a seeded host generator makes the draws reproducible.

Each step's distribution is made from the logits z<t> in this order (``Controls``):

    1. ban:          A = the vocabulary less <unk>, <pad> and the task's class tokens;
                     z_i = -inf for i not in A (P = 0: never emitted, under every control)
    2. temperature:  s_i = z_i / T
    3. top-k:        K = the k tokens of A with the largest s_i;  s_i = -inf for i not in K
    4. top-p:        rank the kept tokens by p_i = softmax(s)_i, p_(1) >= p_(2) >= ...;
                     N = the smallest prefix {(1), ..., (m)} with p_(1) + ... + p_(m) >= P
                     (always at least the most likely token; of tokens tied at the cut, the
                     lower ids are kept); p_i = 0 for i not in N
    5. renormalise:  ŷ_i = p_i / Σ_j p_j
    6. draw:         y<t> ~ ŷ

Temperature 0 is greedy decoding: y<t> = arg max_{i in A} z_i, the limit of softmax(z / T) as
T -> 0, so every seed gives the same sequence; top-k and top-p do not apply to it (the most
likely token is in every top-k set and every nucleus), and asking for both is refused. top-k
= 1 is greedy too, and top-p = 1 keeps every token (the draws of no top-p, exactly). The
logits are shifted so that the best allowed one is 0 *before* dividing by T: then no T,
however small, overflows (z / T only goes to -inf, probability 0), and a tiny T samples
exactly what greedy picks.

A prefix (``prime_ids``) is continued instead of starting from nothing: the start token and
the prefix tokens are fed through the model as one sequence (teacher forcing), which leaves the
state after the prefix and the logits of the first token to draw; the prefix is the start of
every sample, and ``max_len`` counts the tokens drawn after it.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..engine.backend import to_host
from ..engine.errors import SeqfwError, SettingError
from ..engine.models.decoding import extend_unfinished
from ..engine.tree import tree_map
from .vocab import EOS, PAD, UNK, Vocab

# Samples are drawn as one batch, each (B, V) step on the host in float64: bounded so that a typo
# (``-n 1000000000``) is refused instead of allocating for minutes. Both are far above any use here.
MAX_SAMPLES = 10_000
MAX_SAMPLE_LEN = 10_000


class SamplingError(SeqfwError, ValueError):
    """A sampling request that cannot work; the message names the arguments as the caller spelt them."""


def _number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


# What each control must be: a test of the value, and what it must be (after "must be").
RULES = {
    "temperature": (lambda v: _number(v) and v >= 0, "a finite number >= 0 (0: greedy)"),
    "top_k": (lambda v: _whole(v) and v >= 1, "a whole number >= 1 (draw among the k most likely tokens)"),
    "top_p": (lambda v: _number(v) and 0 < v <= 1,
              "in (0, 1] (draw among the fewest most likely tokens that hold this much probability)"),
}


def controls_problem(temperature, top_k=None, top_p=None, greedy: bool = False,
                     names: dict | None = None) -> str | None:
    """Why these controls cannot be served together, in one line, or None. ``names`` spells each argument
    as the caller's user typed it (``{"top_k": "--top-k", "greedy": "--greedy", ...}``); ``greedy`` is an
    explicit request for greedy decoding (temperature 0 is one too)."""
    name = {key: key for key in RULES} | {"greedy": "greedy=True"} | (names or {})
    for key, value in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p)):
        ok, requirement = RULES[key]
        if value is not None and not ok(value):
            return f"{name[key]} must be {requirement}, got {value!r}"
    if greedy and temperature not in (None, 0):
        return (f"greedy decoding ({name['greedy']}) takes the most likely token; {name['temperature']} "
                f"{temperature!r} does not apply (greedy is temperature 0)")
    if greedy or temperature == 0:
        how = name["greedy"] if greedy else f"{name['temperature']} 0"
        for key, value in (("top_k", top_k), ("top_p", top_p)):
            if value is not None:
                return f"greedy decoding ({how}) takes the most likely token; {name[key]} does not apply"
    return None


@dataclass(frozen=True)
class Controls:
    """How each token is drawn: ``temperature`` (0: greedy), ``top_k`` and ``top_p`` (None: no limit).
    Checked when made: a bad value or combination raises ``SamplingError``."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self):
        problem = controls_problem(self.temperature, self.top_k, self.top_p)
        if self.temperature is None:  # None means "the task's" one level up; here a temperature is needed
            problem = f"temperature must be {RULES['temperature'][1]}, got None"
        if problem:
            raise SamplingError(problem)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def as_controls(controls: Controls | float) -> Controls:
    """``controls``, or a bare temperature as the controls of plain sampling at it."""
    return controls if isinstance(controls, Controls) else Controls(controls)


def sample_ids(model, params, vocab: Vocab, starts: list[int], max_len: int, controls: Controls | float,
               rng: np.random.Generator, xp, never: tuple[str, ...] = (),
               prime_ids: list[int] = ()) -> list[list[int]]:
    """One sequence per start token id: the ``prime_ids`` prefix, then up to ``max_len`` drawn tokens,
    ending before an ``<eos>`` (not included).

    ``controls``: ``Controls``, or a bare temperature (0: greedy, ``rng`` is then not used). ``never``
    names further tokens that must not be emitted (a one-to-many task's class tokens).
    """
    controls = as_controls(controls)
    if max_len < 1:
        raise SettingError("sample_ids", "max_len", max_len, "must be >= 1")
    banned = [vocab.stoi[t] for t in (UNK, PAD, *never) if t in vocab.stoi]
    eos = vocab.stoi[EOS]
    # the state after each distinct start and the prefix, run once per start and shared by its rows
    firsts, rows = np.unique(np.asarray(starts), return_inverse=True)
    prefix = np.array([[s, *prime_ids] for s in firsts]).T  # (T, distinct starts)
    logits, state = model.logits(params, xp.asarray(prefix), None, None)
    pick = xp.asarray(rows)
    state = tree_map(lambda a: a[pick], state)
    step = to_host(logits[-1])[rows]
    out: list[list[int]] = [list(prime_ids) for _ in starts]
    done = np.zeros(len(starts), dtype=bool)
    for t in range(max_len):
        tokens = next_tokens(step, banned, controls, rng)
        extend_unfinished(out, done, tokens, eos)
        if done.all() or t == max_len - 1:
            break
        logits, state = model.logits(params, xp.asarray(tokens[None, :]), None, state)
        step = to_host(logits[0])
    return out


def next_tokens(logits, banned: list[int], controls: Controls | float, rng: np.random.Generator) -> np.ndarray:
    """One token id per row of ``logits`` (B, V), never a ``banned`` one: the arg-max for temperature 0,
    else a draw after temperature, top-k and top-p (the module's steps 1-6)."""
    controls = as_controls(controls)
    z = np.array(logits, dtype=np.float64)
    z[:, banned] = -np.inf
    z -= z.max(axis=1, keepdims=True)  # the best allowed token at 0, the rest below: z / T cannot overflow up
    if controls.greedy:
        return z.argmax(axis=1)
    V = z.shape[1]
    if controls.top_k is not None and controls.top_k < V:  # ranked on z: s = z / T ranks the same
        cut = V - controls.top_k  # all but the k largest
        np.put_along_axis(z, np.argpartition(z, cut, axis=1)[:, :cut], -np.inf, axis=1)
    with np.errstate(over="ignore", under="ignore"):  # a tiny T sends z / T to -inf: probability 0, as it should
        p = np.exp(z / controls.temperature)
    p /= p.sum(axis=1, keepdims=True)  # >= 1 before this: the best token contributes exp(0)
    if controls.top_p is not None and controls.top_p < 1:
        order = np.argsort(-p, axis=1, kind="stable")
        ranked = np.take_along_axis(p, order, axis=1)
        above = np.cumsum(ranked, axis=1)
        before = np.concatenate([np.zeros_like(above[:, :1]), above[:, :-1]], axis=1)  # P of the tokens ranked above
        # a token is kept while the ones above it hold less than P; the 1e-12 absorbs rounding in the
        # sum (0.7 + 0.2 = 0.8999999999999999 must count as reaching P = 0.9)
        np.put_along_axis(p, order, np.where(before < controls.top_p - 1e-12, ranked, 0.0), axis=1)
        p /= p.sum(axis=1, keepdims=True)  # the most likely token is always kept (nothing is above it)
    return np.array([rng.choice(p.shape[1], p=row) for row in p])  # banned ids have p = 0
