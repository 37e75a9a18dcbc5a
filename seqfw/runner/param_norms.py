"""Each parameter's gradient norm over training: the artifacts ``grad_norms/params.json`` and ``params.png``.

The loop measures ‖∂L/∂θ‖ of every parameter θ every ``train.log_every`` steps (``seqfw.runner.step``, before
clipping). They are not MLflow metrics: a network has a dozen to a hundred parameters, which would bury
the run's headline metrics (loss, validation metrics, ``grad_norm/global``) in its metric list. They are
one record instead, ``{"norms": {parameter: {training step: norm}}, ...}``, logged at every evaluation
(one upload each, not one per step) and drawn at the end as small multiples: one panel per parameter,
norm against training step on a log scale. A continued run (``train.resume``) carries its record on.
"""
from __future__ import annotations

import math

JSON, FIGURE = "grad_norms/params.json", "grad_norms/params.png"
X = "training step"
Y = "‖∂L/∂θ‖ (the parameter's gradient on the training batch, before clipping)"
COLUMNS = 4


class ParamNorms:
    """The per-parameter gradient norms of one run, as one record logged to ``tracker``."""

    def __init__(self, tracker, title: str, start_step: int = 0):
        self.tracker, self.pending = tracker, False
        self.on = tracker.run_id is not None  # nothing to log to with tracking=none
        self.record = {"view": "params", "title": title, "x": X, "y": Y, "norms": {}}
        if self.on and not tracker.fresh:  # a continued run: its record so far, up to the checkpoint's step
            earlier = tracker.read_dict(JSON) or {}
            for name, by_step in (earlier.get("norms") or {}).items():
                kept = {s: v for s, v in by_step.items() if int(s) <= start_step}
                if kept:
                    self.record["norms"][name] = kept

    def add(self, step: int, norms: dict | None) -> None:
        """The norms measured after ``step`` (``{parameter path: norm}``), kept until the next ``log``."""
        if not (self.on and norms):
            return
        for name, value in norms.items():
            self.record["norms"].setdefault(name, {})[str(step)] = float(value)
        self.pending = True

    def log(self, draw: bool = False) -> None:
        """Upload the record if it grew since the last upload; with ``draw``, its figure too."""
        if not self.on:
            return
        if self.pending:
            self.tracker.log_dict(self.record, JSON)
            self.pending = False
        if draw and self.record["norms"]:
            self.tracker.log_figure(lambda: params_figure(self.record), FIGURE)


def params_figure(record: dict):
    """Small multiples: one panel per parameter (in the network's order), its gradient norm against the
    training step on a log scale; titled with the run (cell, task, topology) and what is drawn."""
    from matplotlib.figure import Figure

    from .plots import positive

    names = list(record["norms"])
    cols = max(1, min(COLUMNS, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    width, height = 3.1 * cols + 0.6, 2.0 * rows + 1.1
    fig = Figure(figsize=(width, height))
    # fixed margins in inches: a layout engine would take seconds to place a dozen panels
    fig.subplots_adjust(left=0.9 / width, right=1 - 0.2 / width, bottom=0.5 / height, top=1 - 0.85 / height,
                        hspace=0.6, wspace=0.35)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.set_visible(False)
            continue
        by_step = record["norms"][names[i]]
        steps = sorted(by_step, key=int)
        at = [int(s) for s in steps]
        values, note = positive([by_step[s] for s in steps], record["x"], at)  # an exact 0 is said, not drawn
        ax.plot(at, values, lw=1.3, marker="." if len(steps) <= 40 else None, ms=3)
        ax.set_yscale("log")
        ax.set_title(names[i] + note.replace(";", ","), fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
        if i + cols >= len(names):  # the lowest panel of its column
            ax.set_xlabel(record["x"], fontsize=8)
    fig.supylabel(record["y"], fontsize=8)
    fig.suptitle(f"{record['title']}\ngradient norm of each parameter over training (log scale)", fontsize=9)
    return fig
