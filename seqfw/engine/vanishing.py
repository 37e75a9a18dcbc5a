"""How far the gradient reaches back in time: the two views of lecture 1.8, per layer and direction.

Both are measured with a model's own backward pass on one batch, on the course's loss per
sequence, L = Σ_t L⟨t⟩ (a batch's loss is the mean of these over its B sequences, so one
sequence's gradient is B times the batch's)::

    step view   n(t) = mean over the sequences that have step t of ‖∂L/∂a⟨t⟩‖        count(t)
    lag view    g(k) = mean over the sequences that have lag k  of ‖∂L⟨τ⟩/∂a⟨τ−k⟩‖   count(k)

The step view mixes the loss term at t with what flows back from the later terms; averaging
only over the sequences that are still running keeps padding (a sentence that has ended)
from looking like vanishing. The lag view is the textbook picture: one loss term τ per
sequence, the backward pass seeded there alone (``loss_and_grads(..., loss_steps="last")``),
and the gradient it leaves k steps earlier. A direction's τ is the last step it reads: a
sequence's last real step for a forward direction, its first for a reverse one (for a
many-to-one model the loss term there is the only one). For a tanh RNN

    ∂a⟨t⟩/∂a⟨t−1⟩ = diag(1 − a⟨t⟩²) W_aa,    so   ‖∂L⟨τ⟩/∂a⟨τ−k⟩‖ ≈ ‖∂L⟨τ⟩/∂a⟨τ⟩‖ ρᵏ

with ρ < 1 after the tanh saturates: a straight line on a log scale. A gated cell's path
through c⟨t⟩ (Γ_f near 1) keeps g(k) nearly flat once it has learnt to.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .backend import to_host


class Curve(NamedTuple):
    """One view of one layer and direction, on the host: ``norm[i]`` averaged over ``count[i]`` sequences."""

    norm: np.ndarray  # (K,) float64
    count: np.ndarray  # (K,) int


def per_sequence_norms(model, params, batch, loss_steps: str = "all") -> list[tuple[str, np.ndarray, dict]]:
    """``(layer name, lengths, {direction: (T, B) ‖∂L/∂a⟨t⟩‖ per sequence})`` for every layer of ``model``,
    L being each sequence's own loss (the sum of its terms ``loss_steps`` picks), on the host in float64."""
    *_, norms = model.loss_and_grads(params, batch, train=False, step_norms=True, loss_steps=loss_steps)
    B = batch.inputs.shape[1]
    return [(name, lengths, {d: B * np.asarray(to_host(n), dtype=np.float64) for d, n in directions.items()})
            for (name, lengths), directions in zip(model.curve_layers(batch), norms)]


def step_view(model, params, batch) -> dict[str, Curve]:
    """``{"layer0/fwd": Curve}``: n(t), the mean of ‖∂L/∂a⟨t⟩‖ over the sequences that have step t."""
    curves = {}
    for name, lengths, directions in per_sequence_norms(model, params, batch):
        for d, norms in directions.items():
            T = norms.shape[0]
            real = np.arange(T)[:, None] < lengths[None, :]  # (T, B)
            curves[f"{name}/{d}"] = _mean(norms, real)
    return curves


def lag_view(model, params, batch) -> dict[str, Curve]:
    """``{"layer0/fwd": Curve}``: g(k), the mean of ‖∂L⟨τ⟩/∂a⟨τ−k⟩‖ over the sequences at least k + 1 long."""
    seeded = {"fwd": per_sequence_norms(model, params, batch, "last")}
    if model.per_step and any("bwd" in directions for *_, directions in seeded["fwd"]):
        seeded["bwd"] = per_sequence_norms(model, params, batch, "first")  # the reverse direction ends at t = 0
    curves = {}
    for i, (name, lengths, directions) in enumerate(seeded["fwd"]):
        for d in directions:
            norms = seeded.get(d, seeded["fwd"])[i][2][d]
            T, B = norms.shape
            k = np.arange(T)[:, None]
            # the step k before each sequence's τ: t = L−1−k reading forwards, t = k reading backwards
            t = np.clip(lengths[None, :] - 1 - k, 0, T - 1) if d == "fwd" else np.broadcast_to(k, (T, B))
            real = k < lengths[None, :]
            curves[f"{name}/{d}"] = _mean(np.take_along_axis(norms, t, axis=0), real)
    return curves


def _mean(values: np.ndarray, real: np.ndarray) -> Curve:
    """Column means of ``values`` (K, B) over the ``real`` entries, up to the last row that has any."""
    count = real.sum(axis=1)
    K = int(np.flatnonzero(count)[-1]) + 1 if count.any() else 0
    total = np.where(real, values, 0.0).sum(axis=1)
    return Curve(total[:K] / count[:K], count[:K])
