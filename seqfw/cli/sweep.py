"""Sweeps in MLflow: one parent run per ``--multirun``, one child per job, a summary at the end.

A Hydra callback, so every launcher gets it (basic, joblib, Submitit, Ray). The
parent process creates the store, the experiment and the parent run before any
job starts (parallel jobs would otherwise race on a fresh sqlite schema) and
writes the parent's id into the sweep directory, where each job reads it and
tags its run ``mlflow.parentRunId`` (MLflow's nested runs do not cross processes).

The parent never stays RUNNING: the callback closes it after the last job, and a sweep cut
short (a signal, a job's crash that escapes it) is closed by the command line's ``main`` through
``close_open_sweep``, with the summary of the jobs that ran. Each job marks its directory
(``JOB_FILE``), so the summary counts the jobs that left no run at all, and the parent is
FAILED unless every job's run FINISHED; ``OUTCOME`` tells ``main`` to exit with status 1 then.
"""
from __future__ import annotations

import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ..plugins.registry import task_registry
from ..runner.comparison import log_comparison
from ..runner.life import SIGNALS
from ..runner.settings import ConfigError
from ..runner.notes import experiment_note
from ..runner.tracking import JOB_FILE, PARENT_FILE, MlflowTracker, finish_sweep, run_link, sweep_summary
from .main import guarded

OPEN: dict = {}  # the parent run this process opened and has not closed: uri, run_id, sweep_dir, metric, link
OUTCOME: dict = {}  # after the summary: jobs, failed


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
        spec = task_registry().get(config.task.name)
        own = config.tracking.experiment in (None, config.task.name)  # a named experiment gets no task's note
        parent = MlflowTracker(config.tracking.uri, config.tracking.experiment or config.task.name,
                               run_name=f"sweep {overrides}", tags={"seqfw.sweep": "parent", "overrides": overrides},
                               description=experiment_note(spec.cls) if spec and own else None)
        parent.log_params({"sweep.overrides": overrides, "optimized_metric": _metric(config)[0]})
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(parent.run_id)
        OPEN.update(uri=config.tracking.uri, run_id=parent.run_id, sweep_dir=sweep_dir, metric=_metric(config),
                    link=run_link(parent.experiment_id, parent.run_id, parent.uri))
        print(f"sweep: MLflow parent run {parent.run_id}", file=sys.stderr)

    @staticmethod
    def _end(config: DictConfig) -> None:
        close_open_sweep(None)  # nothing is open with tracking=none


def close_open_sweep(status: str | None) -> bool:
    """Close the parent run this process opened, if it is still open: the summary table, then FINISHED
    or FAILED by its jobs (``status`` None), or ``status`` (a sweep cut short). True if one was open."""
    if not OPEN:
        return False
    with SIGNALS.ending():  # a signal now must not leave the parent half-closed
        return _close(status)


def _close(status: str | None) -> bool:
    uri, run_id, sweep_dir, (metric, maximize) = OPEN["uri"], OPEN["run_id"], OPEN["sweep_dir"], OPEN["metric"]
    link = OPEN["link"]
    OPEN.clear()
    jobs = sum(1 for marker in sweep_dir.glob(f"*/{JOB_FILE}") if marker.read_text().strip() == run_id)
    try:
        table, rows = sweep_summary(uri, run_id, metric, maximize, jobs)
    except Exception as err:  # the store failed under the sweep: still try to close the parent
        table, rows = f"(no summary: {type(err).__name__}: {err})", []
    try:
        log_comparison(uri, run_id, [r["run_id"] for r in rows])
    except Exception as err:  # the figure is a view of the children: the sweep's outcome does not hang on it
        print(f"warning: the sweep's comparison figure could not be logged ({type(err).__name__}: {err})",
              file=sys.stderr)
    final = finish_sweep(uri, run_id, table, rows, metric, jobs, status)
    failed = max(jobs, len(rows)) - sum(r["status"] == "FINISHED" for r in rows)
    OUTCOME.update(jobs=max(jobs, len(rows)), failed=failed)
    cut = f", cut short: {status}" if status else ""
    print(f"\n== sweep summary ({max(jobs, len(rows))} jobs, {len(rows)} runs{cut}; parent MLflow run {run_id} is "
          f"{final}) ==\n{table}\nthe sweep in MLflow (its children under it): {link}",
          file=sys.stderr if status else sys.stdout)
    return True
