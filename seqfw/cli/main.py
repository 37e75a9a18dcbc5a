"""``python -m seqfw [group=option ...] [key=value ...]``: compose with Hydra, train, print a summary.

Order matters: plugins load and their configs are stored in Hydra's ConfigStore
*before* ``hydra.main`` composes, which is what makes ``cell=<plugin>`` legal.

This is seqfw's one error boundary. Every error a user can cause is a ``SeqfwError``: its
message is printed as one paragraph and the exit status is 2. Anything else is a bug, in
seqfw or in a plugin: its traceback is shown with one line saying so (exit 1).
``HYDRA_FULL_ERROR=1`` shows the traceback of any error.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

from ..engine.errors import SeqfwError

BUG_REPORT = ("seqfw stopped on an internal error ({what}). This is a bug in seqfw or in a plugin, not a problem "
              "with your input: please report it to the seqfw issue tracker with the command line and the "
              "traceback above (run `python -m seqfw.inventory` to see which plugins are installed).")


def report_bug(err: BaseException) -> None:
    """The traceback of ``err``, then one line saying it is a bug and where to report it."""
    traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    print("\n" + BUG_REPORT.format(what=f"{type(err).__name__}: {err}"), file=sys.stderr)


def _full_error() -> bool:
    """HYDRA_FULL_ERROR=1: the user asked for tracebacks (Hydra's own switch, so one switch for both)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def guarded(fn, *args, keep_going: bool = False):
    """``fn(*args)`` behind the error boundary: a SeqfwError is printed as one paragraph (exit 2), anything
    else as a bug (exit 1). With ``keep_going`` (a sweep's job) it returns NaN instead of exiting, so that
    the sweep goes on and its summary shows the failed run."""
    try:
        return fn(*args)
    except SeqfwError as err:
        if _full_error():
            raise
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except Exception as err:
        if _full_error():
            raise
        report_bug(err)
        code = 1
    if keep_going:
        return float("nan")
    sys.exit(code)


def _context():
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ..run.settings import RunContext
    from ..run.tracking import PARENT_FILE

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
    from ..run.loop import fit
    from ..run.resume import Interrupted

    ctx, multirun = _context()
    try:
        result = guarded(fit, cfg, ctx, keep_going=multirun)  # a failed job must not end its sweep
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
    if isinstance(result, float):  # the failed job of a sweep: already reported
        return result
    print(summary(result))
    return result.objective


def summary(r) -> str:
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted(r.metrics.items()))
    return (f"\n== seqfw summary ==\n{r.description}\n"
            f"{r.steps} steps in {r.seconds:.1f} s ({r.tokens_per_s:,.0f} tokens/s), last train/loss {r.train_loss:.6f}\n"
            f"{metrics}\n"
            f"objective {r.metric} = {r.objective:.4f}\n{r.browse}\n")


def _info_only(argv: list[str]) -> bool:
    """--help, --cfg, --info...: Hydra prints and creates no output directory."""
    return any(a in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion")
               or a.startswith(("--cfg=", "--info=")) for a in argv)


def _preflight(argv: list[str]) -> None:
    """Refuse what the command line gets wrong before Hydra composes; store every schema for it."""
    from ..run.settings import ConfigError
    from .preflight import check_overrides, missing_plugin, output_dir_problem
    from .schema import experiments_dir, register_configs

    if problem := (missing_plugin(argv, experiments_dir()) or check_overrides(argv)
                   or (None if _info_only(argv) else output_dir_problem(argv))):
        raise ConfigError(problem)
    register_configs()


def main() -> None:
    guarded(_preflight, sys.argv[1:])  # a plugin's bug while its configs are stored is reported as one too
    import hydra

    from .schema import conf_dir

    hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")(_job)()
