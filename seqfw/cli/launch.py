"""What ``python -m seqfw`` settles before Hydra composes: the run's own output directory, and a
tracking URI given on the command line (or in MLFLOW_TRACKING_URI) that MLflow could not use.

Hydra names the output directory after the second the run started (``outputs/<date>/<HH-MM-SS>``,
conf/config.yaml), so two runs started in the same second would share one: one run's
``.hydra/overrides.yaml`` (logged with its MLflow run) would name the other's settings and their
checkpoints would overwrite each other. ``claim_output_dir`` makes the directory itself with an
atomic ``mkdir`` (``<HH-MM-SS>``, else ``<HH-MM-SS>-2``, ``-3``, ...) and hands it to Hydra as
``hydra.run.dir`` (``hydra.sweep.dir`` for ``--multirun``, whose directory holds the sweep's parent
run id), unless the command line names one. A directory is then one run's, whoever else starts.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..runner.life import hold_directory
from ..runner.settings import ConfigError
from ..runner.tracking import resolve_uri

ROOTS = {"hydra.run.dir": "outputs", "hydra.sweep.dir": "multirun"}  # as conf/config.yaml has them


def prepare(argv: list[str]) -> list[str]:
    """The overrides to add to ``argv`` (the command line without the program name, not --help or --cfg);
    refuses a tracking URI MLflow cannot use before any work."""
    check_tracking_uri(argv)
    key = "hydra.sweep.dir" if _multirun(argv) else "hydra.run.dir"
    given = [_value(a) for a in argv if _key(a) == key]
    if given:  # the user's own directory, as given: this process holds it before Hydra writes into it
        hold_given(Path(given[-1]), key)
        return []
    claimed = claim_output_dir(Path(ROOTS[key]))
    CLAIMED.append(claimed)
    return [f"{key}={claimed}"]


CLAIMED: list[Path] = []  # the directories this process made for its run


def hold_given(path: Path, key: str) -> None:
    """Lock a directory the command line names, so that two processes never write one (Hydra writes its
    .hydra/ files there before any run starts); one with an interpolation is left to Hydra."""
    if "${" in str(path):
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the output directory {path}: {err.strerror}. Set {key}=/a/writable/path.") \
            from None
    if not hold_directory(path):
        raise ConfigError(f"{key}={path} is in use by another running seqfw process, which writes its checkpoint "
                          f"and config there. Give this run its own directory (leave {key} out: each run gets a "
                          "new one).")


def release_unused() -> None:
    """Remove the directories this process made if nothing was written into them (a start refused early)."""
    for path in CLAIMED:
        try:
            path.rmdir()  # only an empty one
            path.parent.rmdir()  # and the day's, if this was its only run
        except OSError:
            pass


def check_tracking_uri(argv: list[str]) -> None:
    """``tracking.uri=`` from the command line (else MLFLOW_TRACKING_URI) must name a store MLflow 3 can use."""
    if any(_key(a) == "tracking" and _value(a) == "none" for a in argv):
        return
    given = [_value(a) for a in argv if _key(a) == "tracking.uri"]
    uri = given[-1] if given and given[-1] not in ("null", "~", "") else None
    resolve_uri(uri)  # raises TrackingError (exit 2) with the fix


def claim_output_dir(root: Path, now: float | None = None) -> Path:
    """``root/<date>/<HH-MM-SS>``, or the first free ``-2``, ``-3``... after it, created here and now."""
    stamp = time.localtime(now)
    day = root / time.strftime("%Y-%m-%d", stamp)
    base = time.strftime("%H-%M-%S", stamp)
    try:
        day.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            path = day / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()  # atomic: of two processes asking for one name, exactly one gets it
                return path
            except FileExistsError:
                continue
    except OSError as err:
        raise ConfigError(f"cannot create the output directory under {day}: {err.strerror}. Run from a directory "
                          f"you can write to, or set hydra.run.dir=/a/writable/path.") from None
    raise ConfigError(f"{day} already holds 10000 runs started at {base}; set hydra.run.dir=/a/new/path.")


def _key(arg: str) -> str:
    return arg.partition("=")[0].lstrip("+~") if "=" in arg else ""


def _value(arg: str) -> str:
    return arg.partition("=")[2].strip().strip("'\"")


def _multirun(argv: list[str]) -> bool:
    return any(a in ("-m", "--multirun") or a.replace(" ", "") == "hydra.mode=MULTIRUN" for a in argv)

