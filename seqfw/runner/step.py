"""One training step: loss and gradients (full or truncated BPTT), clipping, the update."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..engine.models import Batch
from ..engine.optim import Optimizer, clip_by_global_norm, clip_by_value, global_norm
from ..engine.recurrence import truncated_bptt
from ..engine.tree import flatten
from .settings import TrainSettings


class StepResult(NamedTuple):
    loss: float
    logged: dict | None  # every train.log_every steps: the metrics to log (the global gradient norm before clipping)
    bad: str | None  # what was not finite (the update was then not applied), else None
    param_norms: dict | None = None  # with ``logged``: each parameter's gradient norm before clipping, by its path


def loss_and_grads(model, params, batch: Batch, bptt: int | None, noise) -> tuple[float, dict]:
    """The batch's loss and gradients: truncated BPTT in windows of ``bptt`` steps where the model
    has an output at every step, else (or with ``bptt`` None) full BPTT."""
    if bptt is None or not model.per_step:
        loss, grads, _, _ = model.loss_and_grads(params, batch, noise=noise)
        return loss, grads

    def window(steps, lengths, state):
        loss, grads, finals, _ = model.loss_and_grads(params, batch.window(steps, lengths), state, noise=noise)
        return loss, grads, finals

    loss, grads, _ = truncated_bptt(window, batch.inputs.shape[0], bptt, batch.lengths)
    return loss, grads


def train_step(model, params, opt: Optimizer, batch: Batch, t: TrainSettings, noise, step: int) -> StepResult:
    """One update. A non-finite loss or gradient is reported, not applied."""
    with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is caught just below, with advice
        loss, grads = loss_and_grads(model, params, batch, t.bptt, noise)
        total = global_norm(grads)
    if not math.isfinite(loss):
        return StepResult(loss, None, f"the training loss became {loss}")
    if not math.isfinite(total):
        return StepResult(loss, None, f"the gradient became non-finite (global norm {total})")
    logged = per_param = None
    if step % t.log_every == 0:
        logged = {"train/loss": loss, "grad_norm/global": total}
        per_param = {k: math.sqrt(float((g * g).sum())) for k, g in flatten(grads).items()}
    if t.clip_norm:
        clip_by_global_norm(grads, t.clip_norm, norm=total)
    if t.clip_value:
        clip_by_value(grads, t.clip_value)
    opt.step(grads)
    return StepResult(loss, logged, None, per_param)
