"""What a task is: data, batching, the model head it needs, metrics and samples."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from ..backend import Array, to_host


class Batch(NamedTuple):
    """A padded, time-major batch on the host: inputs (T, B) ids or (T, B, D) features, targets
    (T, B[, K]) per step or (B[, K]) per sequence, lengths (B,). An encoder–decoder batch adds the
    decoder's teacher-forced inputs (T_y, B) and the target lengths."""

    inputs: np.ndarray
    targets: np.ndarray
    lengths: np.ndarray
    decoder_inputs: np.ndarray | None = None
    target_lengths: np.ndarray | None = None

    def to(self, xp, dtype=np.float32) -> "Batch":
        """On the backend's device; float arrays in the backend's dtype, ids stay integers."""
        def move(a):
            return xp.asarray(a, dtype=dtype) if np.issubdtype(a.dtype, np.floating) else xp.asarray(a)

        return Batch(*(None if a is None else move(a) for a in self))


def pad_batch(inputs: Sequence[Sequence[int]], targets, pad: int = 0) -> Batch:
    """Sequences of different lengths T_x -> one (T, B) batch padded with ``pad``, plus their lengths.

    ``targets`` are sequences (padded like the inputs) or one value per sequence (kept as an array).
    """
    lengths = np.array([len(s) for s in inputs])
    T, B = int(lengths.max()), len(inputs)
    x = np.full((T, B), pad, dtype=np.int64)
    for b, s in enumerate(inputs):
        x[: len(s), b] = s
    if len(targets) and np.ndim(targets[0]) == 0:
        return Batch(x, np.asarray(targets), lengths)
    y = np.full((T, B), pad, dtype=np.int64)
    for b, t in enumerate(targets):
        y[: len(t), b] = t
    return Batch(x, y, lengths)


@dataclass
class TaskInfo:
    """What the runner must know to check a configuration before any work starts."""

    topologies: tuple[str, ...]  # the topology kinds this task fits; the first is its default
    bidirectional: bool  # whether reading the future is allowed (not for a causal language model)
    metric: str  # the default metric to optimise (and its direction)
    maximize: bool = True
    default_topology: str = "many_to_many"  # the conf/topology option `task=<this>` selects


def require_positive(cfg, *keys: str) -> None:
    """Refuse ``task.<key> < 1`` for each key, naming it (a task's size settings)."""
    for key in keys:
        if getattr(cfg, key) < 1:
            raise ValueError(f"task.{key} must be >= 1, got {getattr(cfg, key)}")


class Task:
    """Base class. Subclasses set ``info`` and implement the methods below."""

    info: TaskInfo
    name: str = "task"

    def build_model(self, net, kind: str, make_net=None):
        """The model for topology kind ``kind`` (one of ``info.topologies``) around ``net``.

        ``make_net(bidirectional=...)`` builds another network of the configured cell and depth
        (an encoder–decoder's decoder).
        """
        raise NotImplementedError

    @property
    def input_size(self) -> int:
        """What the recurrent network reads: the embedding size, or the feature size."""
        raise NotImplementedError

    # Tasks that keep their encoded data as ``self._train`` / ``self._val`` lists of
    # ``(input ids, targets)`` get batching for free; others override these two.
    def train_batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """``batch_size`` training examples drawn with replacement, padded."""
        idx = rng.integers(0, len(self._train), size=batch_size)
        return pad_batch([self._train[i][0] for i in idx], [self._train[i][1] for i in idx])

    def curve_batch(self) -> Batch:
        """A fixed batch (the first 64 validation examples) on which gradient-norm curves are measured."""
        return pad_batch([x for x, _ in self._val[:64]], [y for _, y in self._val[:64]])

    def evaluate(self, model, params, xp) -> dict[str, float]:
        raise NotImplementedError

    def samples(self, model, params, xp) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def predict_texts(self, model, params, xp, texts: list[str], rng: np.random.Generator) -> list[str]:
        """What the served model answers for each input string (``seqfw.serving``)."""
        raise ValueError(f"task={self.name} has no text interface for predictions")


def predict_tags(model, params, batch: Batch, xp) -> tuple[np.ndarray, Array]:
    """Argmax of a classifier's logits, on the host, and the logits."""
    logits, _ = model.logits(params, xp.asarray(batch.inputs), xp.asarray(batch.lengths))
    return to_host(logits.argmax(axis=-1)), logits
