"""Sweeps in MLflow: one parent run per ``--multirun``, one child per job, a summary at the end.

A Hydra callback, so every launcher gets it (basic, joblib, Submitit, Ray). The
parent process creates the store, the experiment and the parent run before any
job starts (parallel jobs would otherwise race on a fresh sqlite schema) and
writes the parent's id into the sweep directory, where each job reads it and
tags its run ``mlflow.parentRunId`` (MLflow's nested runs do not cross processes).
"""
from __future__ import annotations

import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ..plugins.registry import task_registry
from ..run.settings import ConfigError
from ..run.tracking import PARENT_FILE, MlflowTracker, finish_sweep, sweep_summary
from .main import guarded


def _metric(config: DictConfig) -> tuple[str, bool]:
    """The metric the sweep optimises and whether larger is better."""
    spec = task_registry().get(config.task.name)
    metric = config.get("optimized_metric") or (spec.cls.info.metric if spec else "val/loss")
    if spec is None or metric != spec.cls.info.metric:  # a metric named by hand: losses and errors go down
        return metric, not any(w in metric for w in ("loss", "mse", "bpc", "perplexity", "error"))
    return metric, spec.cls.info.maximize


def check_direction(config: DictConfig) -> None:
    """Refuse a search (Optuna) whose direction disagrees with the objective the runner returns."""
    direction = OmegaConf.select(config, "hydra.sweeper.direction", default=None)
    if not isinstance(direction, str) or direction.lower() not in ("minimize", "maximize"):
        return
    metric, maximize = _metric(config)
    wanted = "maximize" if maximize else "minimize"
    if direction.lower() != wanted:
        raise ConfigError(
            f"hydra.sweeper.direction is {direction}, but the objective {metric} is better when "
            f"{'larger' if maximize else 'smaller'}: the search would look for the worst runs. "
            f"Set hydra.sweeper.direction={wanted} (or pick another metric with optimized_metric=...).")


class SweepCallback(Callback):
    """Opens the parent run before any job and closes it after the last, behind the CLI's error boundary."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        guarded(self._start, config)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        guarded(self._end, config)

    @staticmethod
    def _start(config: DictConfig) -> None:
        overrides = " ".join(config.hydra.overrides.task) or "(defaults)"
        check_direction(config)
        if config.tracking.name != "mlflow":
            return
        parent = MlflowTracker(config.tracking.uri, config.tracking.experiment or config.task.name,
                               run_name=f"sweep {overrides}", tags={"seqfw.sweep": "parent", "overrides": overrides})
        parent.log_params({"sweep.overrides": overrides, "optimized_metric": _metric(config)[0]})
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(parent.run_id)
        print(f"sweep: MLflow parent run {parent.run_id}", file=sys.stderr)

    @staticmethod
    def _end(config: DictConfig) -> None:
        marker = Path(config.hydra.sweep.dir) / PARENT_FILE
        if config.tracking.name != "mlflow" or not marker.exists():
            return
        run_id = marker.read_text().strip()
        metric, maximize = _metric(config)
        table, rows = sweep_summary(config.tracking.uri, run_id, metric, maximize)
        finish_sweep(config.tracking.uri, run_id, table, rows, metric)
        print(f"\n== sweep summary ({len(rows)} runs, parent MLflow run {run_id}) ==\n{table}")
