"""Stateless functions on arrays of either backend: softmax and log-softmax.

Both subtract the maximum along ``axis`` first, which changes nothing mathematically
(softmax(z) = softmax(z - c) for any c) and keeps every exponent <= 0, so no logit however
large overflows (z = ±1e4 is fine in float32)::

    m           = max_k z_k
    softmax(z)  = exp(z - m) / Σ_k exp(z_k - m)
    log_softmax = (z - m) - log Σ_k exp(z_k - m)

A float array keeps its dtype (float32 in, float32 out); anything else is computed in float64.
A row that is all -inf gives NaN, as PyTorch's. The fused softmax cross-entropy of
``seqfw.engine.losses`` computes the same softmax inside its gradient, in one buffer.
"""
from __future__ import annotations

import numpy as np

from .backend import Array, xp_of


def _floating(z) -> Array:
    """``z`` as an array of its own float dtype, or float64 (lists, integers)."""
    if not hasattr(z, "dtype"):
        z = np.asarray(z)
    return z if np.issubdtype(z.dtype, np.floating) else z.astype(np.float64)


def softmax(z: Array, axis: int = -1) -> Array:
    """exp(z - max) / Σ exp(z - max) along ``axis``: probabilities that sum to 1, same shape and dtype."""
    z = _floating(z)
    xp = xp_of(z)
    if z.size == 0:  # no entry to normalise (max() of nothing would raise)
        return z.copy()
    e = xp.asarray(z - z.max(axis=axis, keepdims=True))  # the one new buffer (an array even for a 0-d z)
    xp.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(z: Array, axis: int = -1) -> Array:
    """(z - max) - log Σ exp(z - max) along ``axis``: log-probabilities, same shape and dtype."""
    z = _floating(z)
    xp = xp_of(z)
    if z.size == 0:
        return z.copy()
    shifted = xp.asarray(z - z.max(axis=axis, keepdims=True))
    shifted -= xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted
