"""Losses with their gradients, all on the course's convention: sum over time, mean over the batch.

    L = (1/B) Σ_b Σ_t mask<t>_b · L<t>_b

so a language model's loss is the per-sequence sum of per-step cross-entropies
(L = Σ_t L<t>), and padded steps contribute nothing. Each function returns
``(loss as a Python float, dL/d(input))``. ``mask`` is (T, B) or (T, B, 1), True
on real steps, or None; the batch axis is the one before the class/feature axis.
"""
from __future__ import annotations

from .backend import Array, xp_of


def _weights(mask: Array | None, shape: tuple, dtype, xp):
    """Per-position weights mask/B broadcastable to ``shape[:-1]`` (B = shape[-2])."""
    B = shape[-2] if len(shape) >= 2 else 1
    if mask is None:
        return None, 1.0 / B
    return xp.asarray(mask).reshape(shape[:-1]).astype(dtype) / B, None


def softmax_cross_entropy(logits: Array, targets: Array, mask: Array | None = None):
    """L<t> = -log softmax(z<t>)[y<t>] for logits (..., B, V) and integer targets (..., B)."""
    xp = xp_of(logits)
    w, scale = _weights(mask, logits.shape, logits.dtype, xp)
    V = logits.shape[-1]
    # one (..., V) buffer, reused in place: for a word-level vocabulary it is the step's largest array
    e = logits - logits.max(axis=-1, keepdims=True)  # z, shifted for stability
    rows, tgt = xp.arange(e.size // V), xp.asarray(targets).reshape(-1)
    z_target = e.reshape(-1, V)[rows, tgt].reshape(e.shape[:-1])
    xp.exp(e, out=e)
    s = e.sum(axis=-1, keepdims=True)
    nll = xp.log(s)[..., 0] - z_target  # (..., B)
    weight = scale if w is None else w[..., None]  # d loss / d nll per position
    e *= weight / s  # weight * softmax(z), contiguous: the flat view below writes through
    e.reshape(-1, V)[rows, tgt] -= scale if w is None else w.reshape(-1)
    if w is None:
        return float(nll.sum()) * scale, e
    return float((nll * w).sum()), e


def sigmoid_cross_entropy(logits: Array, targets: Array, mask: Array | None = None):
    """Binary cross-entropy on logits z with targets y in [0, 1], per output unit (..., B, K)."""
    xp = xp_of(logits)
    w, scale = _weights(mask, logits.shape, logits.dtype, xp)
    y = xp.asarray(targets, dtype=logits.dtype)
    # max(z, 0) - z y + log(1 + e^{-|z|}): stable for any z
    per = xp.maximum(logits, 0) - logits * y + xp.log1p(xp.exp(-xp.abs(logits)))
    grad = 0.5 * xp.tanh(0.5 * logits) + 0.5 - y  # σ(z) - y
    if w is None:
        return float(per.sum()) * scale, grad * scale
    return float((per * w[..., None]).sum()), grad * w[..., None]


def mse(pred: Array, targets: Array, mask: Array | None = None):
    """Squared error Σ_k (ŷ_k - y_k)² per position (..., B, K), summed over time, mean over the batch."""
    xp = xp_of(pred)
    w, scale = _weights(mask, pred.shape, pred.dtype, xp)
    diff = pred - xp.asarray(targets, dtype=pred.dtype)
    if w is None:
        return float((diff * diff).sum()) * scale, 2 * diff * scale
    return float((diff * diff * w[..., None]).sum()), 2 * diff * w[..., None]
