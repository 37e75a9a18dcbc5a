"""``python -m seqfw [group=option ...] [key=value ...]``: compose with Hydra, train, print a summary.

Order matters: plugins load and their configs are stored in Hydra's ConfigStore
*before* ``hydra.main`` composes, which is what makes ``cell=<plugin>`` legal.

This is seqfw's one error boundary. Every error a user can cause is a ``SeqfwError``: its
message is printed as one paragraph and the exit status is 2. Anything else is a bug, in
seqfw or in a plugin: its traceback is shown with one line saying so (exit 1).
``HYDRA_FULL_ERROR=1`` shows the traceback of any error.
"""
from __future__ import annotations

import errno
import os
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


FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # no space left, file too large, quota exceeded


def resource_problem(err: Exception) -> str | None:
    """The paragraph for running out of memory or disk, which is the machine's limit, not a bug; else None."""
    if isinstance(err, MemoryError):
        return (f"out of memory ({err or 'MemoryError'}): this needs more memory than the machine has free. "
                "Lower train.batch_size, cell.hidden_size, topology.num_layers or the task's sizes (python -m seqfw "
                "--cfg job shows them), or close what else is using memory.")
    if isinstance(err, OSError) and err.errno in FULL:
        return (f"cannot write {err.filename or 'a file'}: {err.strerror}. Free space (or raise the quota or the "
                "file-size limit) where the run writes: its output directory (hydra.run.dir), the MLflow store and "
                "./mlruns; then run the same command again.")
    return None


def guarded(fn, *args, keep_going: bool = False):
    """``fn(*args)`` behind the error boundary: a SeqfwError is printed as one paragraph (exit 2), anything
    else as a bug (exit 1). With ``keep_going`` (a sweep's job) it returns NaN instead of exiting, so that
    the sweep goes on and its summary shows the failed run. Running out of memory or disk is said in one
    paragraph (exit 1), not as a bug."""
    try:
        return fn(*args)
    except SeqfwError as err:
        if _full_error():
            raise
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except BrokenPipeError:
        # what reads our output stopped (``python -m seqfw.sample ... | head``): nothing is wrong, and what is
        # still buffered must not fail again at exit (Python's documented idiom: stdout to devnull, status 1)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    except Exception as err:
        if _full_error():
            raise
        if problem := resource_problem(err):
            print(f"error: {problem}", file=sys.stderr)
        else:
            report_bug(err)
        code = 1
    if keep_going:
        return float("nan")
    sys.exit(code)


def run_context(hc, parent_run_id: str | None = None):
    """What a job knows that its config does not (its name, tags, output directory and Hydra's files there),
    from the Hydra config ``hc`` of a composed job: the command line's and ``seqfw.run``'s alike."""
    from ..runner.settings import RunContext

    choices = hc.runtime.choices
    overrides = list(hc.overrides.task)
    name = f"{choices.get('cell')}-{choices.get('topology')}"
    extra = [o for o in overrides if not o.startswith(("cell=", "topology="))]
    out = Path(hc.runtime.output_dir)
    return RunContext(
        run_name=name + (f" [{' '.join(extra)}]" if extra else ""),
        # one tag per config group chosen (cell, topology, task, backend, optim, experiment), by the group's name;
        # the run (seqfw.runner.loop) writes the first four from the composed config. tracking is always mlflow.
        tags={"overrides": " ".join(overrides) or "(none)", **{k: v for k, v in choices.items()
                                                               if v and not k.startswith("hydra") and k != "tracking"}},
        output_dir=out, parent_run_id=parent_run_id,
        config_files=sorted((out / ".hydra").glob("*.yaml")),
    )


def _context():
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ..runner.tracking import PARENT_FILE

    hc = HydraConfig.get()
    parent = None
    if hc.mode == RunMode.MULTIRUN:
        marker = Path(hc.sweep.dir) / PARENT_FILE
        parent = marker.read_text().strip() if marker.exists() else None
    return run_context(hc, parent), hc.mode == RunMode.MULTIRUN


def _job(cfg) -> float:
    from ..runner.life import Interrupted
    from ..runner.loop import fit
    from ..runner.tracking import JOB_FILE
    from .preflight import check_resolvable

    guarded(check_resolvable, cfg)  # a ${...} that fails only once composed: one message, before cfg is read
    ctx, multirun = _context()
    if ctx.parent_run_id:  # the sweep's summary counts its jobs by these, runs or not
        (ctx.output_dir / JOB_FILE).write_text(ctx.parent_run_id)
    try:
        result = guarded(fit, cfg, ctx, keep_going=multirun)  # a failed job must not end its sweep
    except Interrupted as stop:
        print(interrupted(stop, cfg.tracking.name == "mlflow"), file=sys.stderr)
        sys.exit(128 + stop.signum)
    if isinstance(result, float):  # the failed job of a sweep: already reported
        return result
    try:
        print(summary(result), flush=True)
    except OSError as err:  # stdout gone or full: the run itself is FINISHED and stored
        print(f"warning: the summary could not be printed ({err.strerror}); the run is FINISHED: "
              f"{result.browse}", file=sys.stderr)
    return result.objective


def interrupted(stop, tracked: bool, command: str = "command") -> str:
    """What a stop left behind, as the store holds it: the run's status, the checkpoint, how to go on
    (``command``: what the user runs again, the command line's "command" or ``seqfw.run``'s "overrides")."""
    where = f"the MLflow run {stop.run_id} is {stop.status}" if tracked and stop.run_id else None
    if stop.status == "FINISHED":
        return f"interrupted by {stop.name} after the last step: {where}, nothing was lost."
    if stop.status is None:
        return (f"interrupted by {stop.name} before the run started: nothing was recorded"
                f"{' in MLflow' if tracked else ''}. Run the same {command} again to start it.")
    head = f"interrupted by {stop.name}" + (f"; {where}" if where else "")
    again = f"Continue it{' (the same run)' if where else ''} with the same {command} plus train.resume="
    if stop.path:
        return f"{head}. The state after step {stop.step} is saved in {stop.path}. {again}{stop.path}"
    how = "at once, on a second signal" if stop.count > 1 else "at once"
    if stop.complete:
        step, path = stop.last_good
        return (f"{head}. It stopped {how} while the finished model was being logged: all {step} steps were done "
                f"and their final state is in {path} (load it with python -m seqfw.sample {path}, or raise "
                f"train.steps and resume to train on).")
    if stop.last_good:
        step, path = stop.last_good
        return (f"{head}. It stopped {how}, so the last saved state is the periodic checkpoint after step {step}, "
                f"{path}. {again}{path}")
    return f"{head}. It stopped {how}, before any checkpoint was written; run the same {command} again to start over."


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


def preflight(argv: list[str]) -> None:
    """Refuse what the command line gets wrong before Hydra composes; store every schema for it."""
    from ..runner.settings import ConfigError
    from .preflight import check_overrides, grammar_problem, missing_plugin, output_dir_problem, refused_flag
    from .schema import experiments_dir, register_configs

    if problem := (refused_flag(argv) or grammar_problem(argv) or missing_plugin(argv, experiments_dir())
                   or check_overrides(argv)
                   or (None if _info_only(argv) else output_dir_problem(argv))):
        raise ConfigError(problem)
    register_configs()


def main() -> None:
    from ..engine.backend import keep_freed_memory
    from ..runner.life import SIGNALS, Interrupted
    from . import plain_plugin_warnings
    from .launch import prepare, release_unused

    plain_plugin_warnings()
    SIGNALS.install()  # from the first moment: a stop while Hydra composes is reported, not a traceback
    keep_freed_memory()  # a training process: each step's large temporaries reuse the last step's pages
    code = 0
    try:
        guarded(preflight, sys.argv[1:])  # a plugin's bug while its configs are stored is reported as one too
        if not _info_only(sys.argv[1:]):  # each run its own output directory; a tracking URI MLflow can use
            sys.argv += guarded(prepare, sys.argv[1:])
        import hydra

        from .schema import conf_dir

        hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")(_job)()
    except Interrupted as stop:  # outside any run: between a sweep's jobs, or before the first
        print(f"interrupted by {stop.name}; no run was open.", file=sys.stderr)
        code = 128 + stop.signum
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    code = _end_sweep(code)
    if code:
        release_unused()  # a start refused before Hydra wrote anything leaves no empty directory
    SIGNALS.quiet()
    sys.exit(code)


def _end_sweep(code: int) -> int:
    """A sweep cut short still closes its parent run (KILLED on a signal, FAILED otherwise); a sweep
    with failed jobs exits with status 1."""
    sweep = sys.modules.get("seqfw.cli.sweep")  # loaded by Hydra only for a --multirun
    if sweep is None:
        return code
    if sweep.close_open_sweep("KILLED" if code >= 128 else "FAILED"):
        return code or 1
    if code == 0 and sweep.OUTCOME.get("failed"):
        print(f"sweep: {sweep.OUTCOME['failed']} of {sweep.OUTCOME['jobs']} jobs did not finish (the summary above "
              "lists them)", file=sys.stderr)
        return 1
    return code
