"""Gradient-norm curves: ‖∂L/∂a<t>‖ against t, per layer and direction, at points of training.

Measured on a fixed validation batch (the task's ``curve_batch``), logged as JSON every time
and drawn once, at the end: a figure costs ~0.5 s, and each would replace the last.
"""
from __future__ import annotations

from ..engine.backend import to_host


class Curves:
    """One family of curves (``curves``: line plots at a few steps; ``heatmap``: training step × t)."""

    def __init__(self, name: str, tracker, task, xp, dtype):
        self.name, self.tracker = name, tracker
        self.batch = task.curve_batch().to(xp, dtype) if tracker.run_id is not None else None
        self.data: dict[str, dict] = {}  # "layer<l>/<direction>" -> {training step: [norm per t]}

    def record(self, step: int, model, params, draw: bool = False) -> None:
        if self.batch is None:  # nothing to log to
            return
        *_, norms = model.loss_and_grads(params, self.batch, train=False, step_norms=True)
        for layer, directions in enumerate(norms):
            for d, values in directions.items():
                self.data.setdefault(f"layer{layer}/{d}", {})[str(step)] = [float(v) for v in to_host(values)]
        self.tracker.log_dict(self.data, f"grad_norms/{self.name}.json")
        if draw:
            from .plots import grad_norm_figure, grad_norm_heatmap

            plot = grad_norm_heatmap if self.name == "heatmap" else grad_norm_figure
            self.tracker.log_figure(lambda: plot(self.data), f"grad_norms/{self.name}.png")
