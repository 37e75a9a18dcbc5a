"""What a run is told (its settings, checked when made) and what it reports back, and its errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..engine.errors import SeqfwError, SettingError, check_choice, check_count


class ConfigError(SeqfwError, ValueError):
    """A setting that cannot work; the message names the key, the value and what would."""


class TrainingError(SeqfwError, RuntimeError):
    """Training cannot go on (a non-finite loss); the message names the step and likely cause."""


@dataclass
class TrainSettings:
    """``train.*``: the loop's settings, with their defaults; each checks itself when made."""

    steps: int = 1500
    batch_size: int = 32
    eval_every: int = 250
    log_every: int = 25  # train/loss, grad_norm/global, throughput and per-parameter gradient norms every N steps
    bptt: Optional[int] = None  # truncated BPTT window; null = full BPTT
    clip_norm: Optional[float] = 5.0  # global-norm clipping threshold; null = off
    clip_value: Optional[float] = None  # elementwise clipping; null = off
    grad_curves: int = 4  # how many times ‖∂L/∂a<t>‖ against t is measured over training
    progress: bool = True  # the progress bar (stderr)
    checkpoint_every: Optional[int] = None  # full training state every N steps (null = eval_every)
    resume: Optional[str] = None  # a checkpoint.npz of an interrupted run: continue it (same MLflow run)
    on_nonfinite: str = "stop"  # a NaN/inf loss or gradient: stop (the last good checkpoint stays) | skip the batch

    def __post_init__(self):
        for key in ("steps", "batch_size", "eval_every", "log_every"):
            check_count("train", key, getattr(self, key))
        check_count("train", "grad_curves", self.grad_curves, low=0)
        _null_or(self.bptt is None or self.bptt >= 1, "bptt", self.bptt, "null (full BPTT) or >= 1")
        for key in ("clip_norm", "clip_value"):
            value = getattr(self, key)
            _null_or(value is None or value > 0, key, value, "null (off) or > 0")
        _null_or(self.checkpoint_every is None or self.checkpoint_every >= 1, "checkpoint_every",
                 self.checkpoint_every, "null (= train.eval_every) or >= 1")
        check_choice("train", "on_nonfinite", self.on_nonfinite, ("stop", "skip"))

    @property
    def checkpoint_period(self) -> int:
        return self.checkpoint_every or self.eval_every


def _null_or(ok: bool, key: str, value, what: str) -> None:
    if not ok:
        raise SettingError("train", key, value, f"must be {what}")


@dataclass
class RunContext:
    """What the entry point knows that the config does not: names, tags, where files go."""

    run_name: str = "seqfw"
    tags: dict = field(default_factory=dict)
    output_dir: Path | None = None
    parent_run_id: str | None = None
    config_files: list = field(default_factory=list)  # Hydra's .hydra/*.yaml, logged as artifacts


@dataclass
class RunResult:
    metrics: dict
    objective: float
    metric: str
    steps: int
    seconds: float
    tokens_per_s: float
    run_id: str | None
    browse: str
    description: str
    train_loss: float  # of the last step's batch
    setup: Any = None  # the built run (task, model, trained params): what ``seqfw.run`` hands back
    checkpoint: Path | None = None  # the final checkpoint
    link: str | None = None  # the run's page in the MLflow UI (None: not tracked)
