"""What a task is: data, batching, the model head it needs, metrics and samples."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.backend import Array, available_memory, to_host
from ..engine.errors import SettingError
from ..engine.models import Batch
from .data import DataError, human_bytes, pad_batch


@dataclass
class TaskInfo:
    """What the runner must know to check a configuration before any work starts."""

    topologies: tuple[str, ...]  # the topology kinds this task fits; the first is its default
    bidirectional: bool  # whether reading the future is allowed (not for a causal language model)
    metric: str  # the default metric to optimise (and its direction)
    maximize: bool = True
    default_topology: str = "many_to_many"  # the conf/topology option `task=<this>` selects
    # every metric ``evaluate()`` reports, so that ``optimized_metric`` is checked before training;
    # () = not declared (a plugin's task): the runner then asks ``evaluate()`` once, before the run
    metrics: tuple[str, ...] = ()
    # what the task asks of a network, in one sentence, and what a model without skill scores on its
    # metrics: both written into the MLflow experiment's description (a plugin's task that leaves them
    # empty is described by its docstring's first line and its metrics)
    summary: str = ""
    chance: str = ""


DATA_SHARE = 0.5  # a task's generated data may take at most this share of the memory available
EVAL_CHUNK = 512  # validation examples a tagger or classifier runs through the model at once


def require(ok: bool, key: str, value: Any, requirement: str) -> None:
    """Unless ``ok``, refuse the task setting ``key`` (``task.<key>`` in a config) with ``requirement``."""
    if not ok:
        raise SettingError("task", key, value, requirement)


def require_positive(cfg, *keys: str) -> None:
    """Refuse ``task.<key> < 1`` for each key, naming it (a task's size settings)."""
    for key in keys:
        require(getattr(cfg, key) >= 1, key, getattr(cfg, key), "must be >= 1")


def require_seed(cfg) -> None:
    """Refuse a negative ``task.data_seed`` (NumPy's generators take none)."""
    require(cfg.data_seed >= 0, "data_seed", cfg.data_seed, "must be >= 0")


def require_fits(cfg, count_key: str, each: int, extra: int = 0, size_key: str | None = None,
                 extra_key: str = "num_val") -> None:
    """Refuse a generated data set that would not fit in memory, before any of it is made: ``task.<count_key>``
    (+ ``extra``, the ``task.<extra_key>`` validation examples) examples of about ``each`` bytes. ``task.<size_key>``
    is named instead when one example alone is too large, ``task.<extra_key>`` when the validation set alone is."""
    count, room = getattr(cfg, count_key), available_memory()
    if room is None or (count + extra) * each <= DATA_SHARE * room:
        return
    fit = int(DATA_SHARE * room // each) - extra
    why = (f"the data would take about {human_bytes((count + extra) * each)} and this machine has {human_bytes(room)} "
           f"of memory available (a task's data may use {DATA_SHARE:.0%} of it)")
    if size_key and each > DATA_SHARE * room:
        require(False, size_key, getattr(cfg, size_key), f"is too large: {why}; lower task.{size_key}")
    if extra and fit < 1:
        require(False, extra_key, extra, f"must be at most {max(int(DATA_SHARE * room // each) - 1, 0):,} here: {why}")
    require(False, count_key, count, f"must be at most {max(fit, 0):,} here: {why}")


def require_fraction(cfg, *keys: str) -> None:
    """Refuse a ``task.<key>`` not strictly between 0 and 1 (a share of the data)."""
    for key in keys:
        require(0.0 < getattr(cfg, key) < 1.0, key, getattr(cfg, key), "must be strictly between 0 and 1")


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

    def reported_metrics(self) -> tuple[str, ...]:
        """The metrics ``evaluate()`` reports for this task's data: ``info.metrics``, or () when not known, that
        is undeclared, or declared above a subclass that overrides ``evaluate`` (a plugin extending a built-in
        task may report more than the class it inherits ``info`` from)."""
        mro = type(self).__mro__
        declared = self if "info" in vars(self) else next((c for c in mro if "info" in vars(c)), None)
        evaluates = next((c for c in mro if "evaluate" in vars(c)), Task)
        if declared is self or (declared is not None and issubclass(declared, evaluates)):
            return self.info.metrics
        return ()

    def eval_chunk(self) -> int:
        """How many validation examples ``evaluate()`` runs through the model at once (memory is sized by it)."""
        return min(len(getattr(self, "_val", ())) or EVAL_CHUNK, EVAL_CHUNK)

    def batch_steps(self) -> tuple[int, int]:
        """(T_x, T_y): the most time steps a training batch's inputs can have, and its decoder's (0 without
        one). Memory is sized by these before anything is trained; tasks with ``_train`` lists get this free,
        others draw one batch of 64."""
        if getattr(self, "_train", None):
            return max(len(item[0]) for item in self._train), 0
        batch = self.train_batch(np.random.default_rng(0), 64)
        return batch.inputs.shape[0], 0 if batch.decoder_inputs is None else batch.decoder_inputs.shape[0]

    def samples(self, model, params, xp) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def predict_texts(self, model, params, xp, texts: list[str], rng: np.random.Generator) -> list[str]:
        """What the served model answers for each input string (``seqfw.serving``)."""
        raise DataError(f"task={self.name} has no text interface for predictions")


def predict_tags(model, params, batch: Batch, xp) -> tuple[np.ndarray, Array]:
    """Argmax of a classifier's logits, on the host, and the logits."""
    logits, _ = model.logits(params, xp.asarray(batch.inputs), xp.asarray(batch.lengths))
    return to_host(logits.argmax(axis=-1)), logits
