"""``task=adding``: the adding problem (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

Each step carries two numbers: a value u ~ U(0, 1) and a marker in {0, 1}.
Exactly two steps are marked, one in each half of the sequence; the target
is the sum of their values. Predicting 1 whatever the input scores
MSE = Var(u1 + u2) = 2/12 = 1/6 ≈ 0.167: a network that cannot carry a value
across T steps stays there. Many-to-one regression, fresh data every batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.backend import to_host
from ..engine.models import sequence_model
from .base import (
    Batch,
    Task,
    TaskInfo,
    require,
    require_fits,
    require_positive,
    require_seed,
)

BASELINE_MSE = 1 / 6


@dataclass
class AddingConfig:
    name: str = "adding"
    seq_len: int = 50  # T, the distance the first value must be carried (up to T - 1 steps)
    num_val: int = 1000
    data_seed: int = 0  # the validation set; training batches come from the run's seed
    num_samples: int = 8


def make_batch(rng: np.random.Generator, batch_size: int, T: int) -> Batch:
    x = np.zeros((T, batch_size, 2))
    x[:, :, 0] = rng.random((T, batch_size))
    half = T // 2
    first, second = rng.integers(0, half, batch_size), rng.integers(half, T, batch_size)
    rows = np.arange(batch_size)
    x[first, rows, 1] = 1.0
    x[second, rows, 1] = 1.0
    y = (x[first, rows, 0] + x[second, rows, 0])[:, None]  # (B, 1)
    return Batch(x, y, np.full(batch_size, T))


class AddingTask(Task):
    """Metrics: ``val/mse`` (minimise; 1/6 is the trivial baseline), ``val/baseline_mse`` on the same set."""

    name = "adding"
    info = TaskInfo(topologies=("many_to_one",), bidirectional=True, metric="val/mse", maximize=False,
                    default_topology="many_to_one", metrics=("val/mse", "val/baseline_mse"),
                    summary="Read the two marked values out of a long sequence of random ones and output their sum.",
                    chance="always predicting 1 (the mean sum): val/mse = Var(u1 + u2) = 1/6 ≈ 0.167, logged as "
                           "val/baseline_mse")

    def __init__(self, cfg: AddingConfig):
        require(cfg.seq_len >= 2, "seq_len", cfg.seq_len, "must be >= 2 (one marked value per half)")
        require_positive(cfg, "num_val", "num_samples")
        require_seed(cfg)
        # the validation set: (T, num_val, 2) float64, generated with a float64 temporary of the same size
        require_fits(cfg, "num_val", 2 * 16 * cfg.seq_len + 64, size_key="seq_len")
        self.cfg = cfg
        self.val = make_batch(np.random.default_rng(cfg.data_seed), cfg.num_val, cfg.seq_len)

    def describe(self) -> str:
        return (f"adding: sequences of T={self.cfg.seq_len}, fresh training data each batch, "
                f"{self.cfg.num_val} validation sequences; baseline MSE 1/6 = {BASELINE_MSE:.3f}")

    @property
    def input_size(self) -> int:
        return 2

    def build_model(self, net, kind: str, make_net=None):
        return sequence_model(kind, net, 1, "mse")

    def train_batch(self, rng, batch_size: int) -> Batch:
        return make_batch(rng, batch_size, self.cfg.seq_len)

    def batch_steps(self) -> tuple[int, int]:
        return self.cfg.seq_len, 0

    def eval_chunk(self) -> int:
        return self.cfg.num_val  # the whole validation set in one pass

    def curve_batch(self) -> Batch:
        return Batch(self.val.inputs[:, :64], self.val.targets[:64], self.val.lengths[:64])

    def _predict(self, model, params, xp) -> np.ndarray:
        dtype = params["head"]["W"].dtype
        pred, _ = model.logits(params, xp.asarray(self.val.inputs, dtype=dtype), None)
        return to_host(pred)[:, 0].astype(np.float64)

    def evaluate(self, model, params, xp) -> dict[str, float]:
        pred, y = self._predict(model, params, xp), self.val.targets[:, 0]
        return {"val/mse": float(((pred - y) ** 2).mean()), "val/baseline_mse": float(((1.0 - y) ** 2).mean())}

    def samples(self, model, params, xp) -> str:
        pred = self._predict(model, params, xp)
        lines = ["marked steps (values) -> target | prediction"]
        for b in range(min(self.cfg.num_samples, self.cfg.num_val)):
            marks = np.flatnonzero(self.val.inputs[:, b, 1])
            values = ", ".join(f"t={t} ({self.val.inputs[t, b, 0]:.3f})" for t in marks)
            lines.append(f"{values} -> {self.val.targets[b, 0]:.3f} | {pred[b]:.3f}")
        return "\n".join(lines) + "\n"
