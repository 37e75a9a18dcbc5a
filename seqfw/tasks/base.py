"""What a task is: data, batching, the model head it needs, metrics and samples."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from ..backend import Array


class Batch(NamedTuple):
    """A padded, time-major batch on the host: ids (T, B), targets (T, B), lengths (B,)."""

    inputs: np.ndarray
    targets: np.ndarray
    lengths: np.ndarray

    def to(self, xp) -> "Batch":
        return Batch(xp.asarray(self.inputs), xp.asarray(self.targets), xp.asarray(self.lengths))


def pad_batch(inputs: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], pad: int = 0) -> Batch:
    """Sequences of different lengths T_x -> one (T, B) batch padded with ``pad``, plus their lengths."""
    lengths = np.array([len(s) for s in inputs])
    T, B = int(lengths.max()), len(inputs)
    x = np.full((T, B), pad, dtype=np.int64)
    y = np.full((T, B), pad, dtype=np.int64)
    for b, (s, t) in enumerate(zip(inputs, targets)):
        x[: len(s), b] = s
        y[: len(t), b] = t
    return Batch(x, y, lengths)


@dataclass
class TaskInfo:
    """What the runner must know to check a configuration before any work starts."""

    topologies: tuple[str, ...]  # the topology kinds this task fits
    bidirectional: bool  # whether reading the future is allowed (not for a causal language model)
    metric: str  # the default metric to optimise (and its direction)
    maximize: bool = True


class Task:
    """Base class. Subclasses set ``info`` and implement the methods below."""

    info: TaskInfo
    name: str = "task"

    def build_model(self, net, embed_dim: int):
        raise NotImplementedError

    def train_batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        raise NotImplementedError

    def curve_batch(self) -> Batch:
        """A fixed batch on which the gradient-norm curves are measured."""
        raise NotImplementedError

    def evaluate(self, model, params, xp) -> dict[str, float]:
        raise NotImplementedError

    def samples(self, model, params, xp) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


def predict_tags(model, params, batch: Batch, xp) -> tuple[np.ndarray, Array]:
    """Argmax per step of a many-to-many model: (T, B) ids on the host, and the logits."""
    from ..backend import to_host

    logits, _ = model.logits(params, xp.asarray(batch.inputs), xp.asarray(batch.lengths))
    return to_host(logits.argmax(axis=-1)), logits
