"""A small hidden Markov model in NumPy: sampling, posterior decoding, filtering.

Independent of the network code on purpose (it imports NumPy only): ``task=dna`` uses it to
generate its genomes and to compute the best accuracy any tagger can reach on them, and that
bound must not share a line with what it judges.

The model: hidden states z_t ∈ {0..K-1}, symbols x_t ∈ {0..M-1},

    P(z_1 = k)             = π_k        (``start``, K)
    P(z_t = k | z_t-1 = j) = A_jk       (``transition``, K × K, rows sum to 1)
    P(x_t = m | z_t = k)   = B_km       (``emission``, K × M, rows sum to 1)

Scaled forward–backward (Rabiner 1989): each α is normalised as it is made, so nothing underflows
however long the sequence,

    α̂_1(k) = π_k B_k(x_1) / c_1                     c_1 = Σ_k π_k B_k(x_1)
    α̂_t(k) = [Σ_j α̂_t-1(j) A_jk] B_k(x_t) / c_t      c_t = Σ_k [Σ_j α̂_t-1(j) A_jk] B_k(x_t)
    β̂_T(j) = 1
    β̂_t(j) = Σ_k A_jk B_k(x_t+1) β̂_t+1(k) / c_t+1

and then

    α̂_t(k)        = P(z_t = k | x_1..x_t)           filtering: what a left-to-right reader can know
    α̂_t(k) β̂_t(k) = P(z_t = k | x_1..x_T)           smoothing: what a reader of the whole sequence can know
    log P(x_1..x_T) = Σ_t log c_t

(c_t = P(x_t | x_1..x_t-1)). Picking the most probable label at each step from these is the
Bayes-optimal per-step decision for each kind of reader.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TOLERANCE = 1e-6  # how far from 1 a row of probabilities may sum


class HMMError(ValueError):
    """Parameters that are not an HMM: which one (``name``: start, transition, emission), its value, and
    what it must be (``requirement``, worded to follow the key: ``task.hmm.<name> <requirement>``)."""

    def __init__(self, name: str, value, requirement: str):
        self.name, self.value, self.requirement = name, value, requirement
        super().__init__(f"{name} {requirement}, got {value!r}")


def _matrix(name: str, value, shape: tuple[int | None, ...], what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise HMMError(name, value, f"must be {what} of numbers") from None
    if arr.ndim != len(shape) or any(want is not None and got != want for got, want in zip(arr.shape, shape)):
        dims = " × ".join("?" if s is None else str(s) for s in shape)
        got = " × ".join(map(str, arr.shape)) or "a single number"
        raise HMMError(name, value, f"must be {what} of shape {dims} (got {got})")
    if not np.all(np.isfinite(arr)):
        raise HMMError(name, value, "must hold finite numbers only")
    if np.any(arr < 0):
        where = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        at = f"entry {where[0]}" if arr.ndim == 1 else f"row {where[0]}, column {where[1]}"
        raise HMMError(name, value, f"must hold probabilities >= 0 ({at} is {arr[where]:g})")
    return arr


def _stochastic(name: str, value, arr: np.ndarray, rows: tuple[str, ...], of: str) -> None:
    sums = arr.sum(axis=-1).reshape(-1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > TOLERANCE)
    if bad.size:
        i = int(bad[0])
        which = f"row {i} ({of} state {rows[i]!r})" if arr.ndim == 2 else "it"
        raise HMMError(name, value, f"must sum to 1{' in each row' if arr.ndim == 2 else ''} (within {TOLERANCE:g}); "
                                    f"{which} sums to {sums[i]:.6g}")


@dataclass(frozen=True, eq=False)  # arrays inside: compared and hashed by identity
class HMM:
    """``start`` (K,), ``transition`` (K, K), ``emission`` (K, M): checked when made (``HMMError``).

    ``states`` names the states in messages (default "0", "1", ...)."""

    start: np.ndarray
    transition: np.ndarray
    emission: np.ndarray
    states: tuple[str, ...] = field(default=())

    def __post_init__(self):
        states = tuple(self.states)
        K = len(states) or None  # named states fix K; else the emission matrix's rows do
        rows = f"a row per state ({', '.join(states)})" if states else "a row per state"
        emission = _matrix("emission", self.emission, (K, None), f"a K × M matrix ({rows}, a column per symbol)")
        K, M = emission.shape
        if K < 1 or M < 1:
            raise HMMError("emission", self.emission, "must have at least one state (row) and one symbol (column)")
        states = states or tuple(str(k) for k in range(K))
        start = _matrix("start", self.start, (K,), "a vector (an entry per state)")
        transition = _matrix("transition", self.transition, (K, K), f"a K × K matrix ({rows}, a column per state)")
        _stochastic("start", self.start, start, states, "")
        _stochastic("transition", self.transition, transition, states, "from")
        _stochastic("emission", self.emission, emission, states, "of")
        for key, arr in (("start", start), ("transition", transition), ("emission", emission), ("states", states)):
            if isinstance(arr, np.ndarray):
                arr.setflags(write=False)
            object.__setattr__(self, key, arr)

    @property
    def num_states(self) -> int:
        return self.transition.shape[0]

    @property
    def num_symbols(self) -> int:
        return self.emission.shape[1]

    def stationary(self) -> np.ndarray:
        """The distribution π with π A = π (the left eigenvector of A for eigenvalue 1; A irreducible)."""
        values, vectors = np.linalg.eig(self.transition.T)
        v = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
        return v / v.sum()

    # -- sampling ------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, length: int, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(states, symbols)``: one sequence of ``length`` steps, shapes (T,), or ``count`` of them, (count, T)."""
        n = 1 if count is None else count
        states = np.empty((n, length), dtype=np.int64)
        if length:
            states[:, 0] = _draw(rng, np.broadcast_to(self.start, (n, self.num_states)))
            cum_a = np.cumsum(self.transition, axis=1)
            for t in range(1, length):  # the time loop; every sequence moves at once
                states[:, t] = _draw(rng, None, cum_a[states[:, t - 1]])
        symbols = _draw(rng, None, np.cumsum(self.emission, axis=1)[states]) if length else states.copy()
        return (states[0], symbols[0]) if count is None else (states, symbols)

    # -- inference -----------------------------------------------------------------------------
    def _likelihoods(self, symbols) -> np.ndarray:
        """(B, T, K) P(x_t | z_t = k) of (B, T) symbols, refusing ids outside 0..M-1."""
        x = np.asarray(symbols)
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"symbols must be integer ids of shape (T,) or (B, T), got {x.dtype} {x.shape}")
        if x.size and (x.min() < 0 or x.max() >= self.num_symbols):
            raise ValueError(f"symbols must be in 0..{self.num_symbols - 1}, got {x.min()}..{x.max()}")
        return self.emission.T[x]

    def _forward(self, like: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """α̂ (B, T, K) and the scales c (B, T)."""
        B, T, K = like.shape
        alpha, c = np.empty((B, T, K)), np.empty((B, T))
        prior = np.broadcast_to(self.start, (B, K))
        for t in range(T):
            a = prior * like[:, t]
            c[:, t] = a.sum(axis=1)
            if np.any(c[:, t] <= 0):
                b = int(np.flatnonzero(c[:, t] <= 0)[0])
                raise ValueError(f"sequence {b} is impossible under this HMM (probability 0 at step {t})")
            alpha[:, t] = a / c[:, t, None]
            prior = alpha[:, t] @ self.transition
        return alpha, c

    def posteriors(self, symbols) -> tuple[np.ndarray, np.ndarray]:
        """``(γ, log p)``: P(z_t | x_1..x_T), shape (T, K) or (B, T, K), and log P(x_1..x_T), a float or (B,).

        Symbols (T,) or (B, T) integer ids (a batch of equal-length sequences)."""
        single = np.ndim(symbols) == 1
        like = self._likelihoods(np.atleast_2d(symbols))
        alpha, c = self._forward(like)
        B, T, K = like.shape
        beta = np.ones((B, T, K))
        for t in range(T - 2, -1, -1):
            beta[:, t] = (like[:, t + 1] * beta[:, t + 1]) @ self.transition.T / c[:, t + 1, None]
        gamma = alpha * beta
        gamma /= gamma.sum(axis=-1, keepdims=True)  # exact already, up to rounding
        loglik = np.log(c).sum(axis=1)
        return (gamma[0], float(loglik[0])) if single else (gamma, loglik)

    def filtered(self, symbols) -> np.ndarray:
        """P(z_t | x_1..x_t): shape (T, K) for symbols (T,), (B, T, K) for (B, T)."""
        alpha, _ = self._forward(self._likelihoods(np.atleast_2d(symbols)))
        return alpha[0] if np.ndim(symbols) == 1 else alpha


def _draw(rng: np.random.Generator, probs: np.ndarray | None, cum: np.ndarray | None = None) -> np.ndarray:
    """One category per row of ``probs`` (or of its cumulative sums ``cum``), by inverse CDF, last axis."""
    cum = np.cumsum(probs, axis=-1) if cum is None else cum
    u = rng.random(cum.shape[:-1]) * cum[..., -1]  # < the total, so never past the last possible category
    return (u[..., None] >= cum).sum(axis=-1)
