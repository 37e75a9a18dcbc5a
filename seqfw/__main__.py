"""``python -m seqfw [group=option ...] [key=value ...]``: compose with Hydra, train, print a summary.

Order matters: plugins load and their configs are stored in Hydra's ConfigStore
*before* ``hydra.main`` composes, which is what makes ``cell=<plugin>`` legal.
"""
from __future__ import annotations

import sys
from pathlib import Path


def _user_errors() -> tuple:
    from .backend import BackendError
    from .plugins import PluginError
    from .tracking import TrackingError
    from .train import TrainingError

    return (ValueError, BackendError, PluginError, TrackingError, TrainingError, FileNotFoundError)


def _context(cfg):
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from .tracking import PARENT_FILE
    from .train import RunContext

    hc = HydraConfig.get()
    choices = hc.runtime.choices
    overrides = list(hc.overrides.task)
    name = f"{choices.get('cell')}-{choices.get('topology')}"
    extra = [o for o in overrides if not o.startswith(("cell=", "topology="))]
    out = Path(hc.runtime.output_dir)
    parent = None
    if hc.mode == RunMode.MULTIRUN:
        marker = Path(hc.sweep.dir) / PARENT_FILE
        parent = marker.read_text().strip() if marker.exists() else None
    return RunContext(
        run_name=name + (f" [{' '.join(extra)}]" if extra else ""),
        tags={"overrides": " ".join(overrides) or "(none)", **{f"choice.{k}": v for k, v in choices.items()
                                                               if v and not k.startswith("hydra")}},
        output_dir=out, parent_run_id=parent,
        config_files=sorted((out / ".hydra").glob("*.yaml")),
    ), hc.mode == RunMode.MULTIRUN


def _job(cfg) -> float:
    import signal

    from .resume import Interrupted
    from .train import fit

    ctx, multirun = _context(cfg)
    try:
        result = fit(cfg, ctx)
    except _user_errors() as err:
        if _full_error():
            raise
        print(f"error: {err}", file=sys.stderr)
        if multirun:  # one bad job must not end the sweep: the sweeper sees a failed trial
            return float("nan")
        sys.exit(2)
    except Interrupted as stop:
        tracked = cfg.tracking.name == "mlflow"
        print(f"interrupted by {signal.Signals(stop.signum).name}: the state after step {stop.step} is saved in "
              f"{stop.path}{' and the MLflow run is marked KILLED' if tracked else ''}. Continue it "
              f"{'(the same run) ' if tracked else ''}with the same command plus train.resume={stop.path}",
              file=sys.stderr)
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:
        print("interrupted (twice: no checkpoint written after the last periodic one); the MLflow run is "
              "marked KILLED", file=sys.stderr)
        sys.exit(130)
    print(summary(result))
    return result.objective


def summary(r) -> str:
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted(r.metrics.items()))
    return (f"\n== seqfw summary ==\n{r.description}\n"
            f"{r.steps} steps in {r.seconds:.1f} s ({r.tokens_per_s:,.0f} tokens/s), last train/loss {r.train_loss:.6f}\n"
            f"{metrics}\n"
            f"objective {r.metric} = {r.objective:.4f}\n{r.browse}\n")


def _full_error() -> bool:
    """HYDRA_FULL_ERROR=1: the user asked for tracebacks (Hydra's own switch, so one switch for both)."""
    import os

    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def _info_only(argv: list[str]) -> bool:
    """--help, --cfg, --info...: Hydra prints and creates no output directory."""
    return any(a in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion")
               or a.startswith(("--cfg=", "--info=")) for a in argv)


def main() -> None:
    try:
        from .config import check_overrides, conf_dir, experiments_dir, register_configs
        from .hydra_extras import missing_plugin, output_dir_problem

        argv = sys.argv[1:]
        if problem := (missing_plugin(argv, experiments_dir()) or check_overrides(argv)
                       or (None if _info_only(argv) else output_dir_problem(argv))):
            raise ValueError(problem)
        register_configs()
    except _user_errors() as err:
        if _full_error():
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    import hydra

    hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")(_job)()


if __name__ == "__main__":
    main()
