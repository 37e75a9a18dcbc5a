"""The gradient views of a run (``seqfw.engine.vanishing``), measured on the task's fixed ``curve_batch``.

Three artifacts under ``grad_norms/``, each a JSON file logged every time it grows and a figure
drawn once, at the end (a figure costs ~0.5 s, and each would replace the last):

    curves   the step view n(t) at ``train.grad_curves`` points of training
    lag      the lag view g(k) at the same points
    heatmap  the step view at step 0 and every evaluation: training step × t
"""
from __future__ import annotations

from ..engine.backend import to_host
from ..engine.vanishing import lag_view, step_view

VIEWS = {  # name -> (measure, what its x axis is, what its y axis is)
    "curves": (step_view, "time step t", "‖∂L/∂a⟨t⟩‖, mean over the sequences that have step t"),
    "lag": (lag_view, "distance k back from the loss term τ", "‖∂L⟨τ⟩/∂a⟨τ−k⟩‖, mean over the sequences"),
    "heatmap": (step_view, "time step t", "‖∂L/∂a⟨t⟩‖, mean over the sequences that have step t"),
}
LOSS = "L = Σ_t L⟨t⟩ per sequence (the course's loss); padding is not counted"


def view_record(name: str, title: str) -> dict:
    """An empty record of view ``name``: what it measures, then ``norms[panel][training step]`` and
    ``count[panel]`` (how many sequences each point averages)."""
    _, x, y = VIEWS[name]
    return {"view": name, "title": title, "x": x, "y": y, "loss": LOSS, "count": {}, "norms": {}}


class Curves:
    """Views ``names`` of one run, recorded together at the training steps the loop asks for."""

    def __init__(self, names: tuple[str, ...], tracker, task, xp, dtype, title: str, start_step: int = 0):
        self.names, self.tracker = names, tracker
        self.batch = task.curve_batch().to(xp, dtype) if tracker.run_id is not None else None
        self.data = {name: view_record(name, title) for name in names}
        if self.batch is not None and not tracker.fresh:  # a continued run: its points up to the checkpoint
            for name in names:
                self._carry_on(name, tracker.read_dict(f"grad_norms/{name}.json") or {}, start_step)

    def _carry_on(self, name: str, earlier: dict, start_step: int) -> None:
        record = self.data[name]
        for panel, by_step in (earlier.get("norms") or {}).items():
            kept = {s: v for s, v in by_step.items() if int(s) <= start_step}
            if kept:
                record["norms"][panel] = kept
                record["count"][panel] = earlier.get("count", {}).get(panel, [])

    def record(self, step: int, model, params, draw: bool = False) -> None:
        if self.batch is None:  # nothing to log to
            return
        for name in self.names:
            record = self.data[name]
            for panel, curve in VIEWS[name][0](model, params, self.batch).items():
                record["norms"].setdefault(panel, {})[str(step)] = [float(v) for v in to_host(curve.norm)]
                record["count"][panel] = [int(c) for c in curve.count]
            self.tracker.log_dict(record, f"grad_norms/{name}.json")
            if draw:
                from .plots import FIGURES

                self.tracker.log_figure(lambda r=record: FIGURES[name](r), f"grad_norms/{name}.png")
