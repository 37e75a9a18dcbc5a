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

from ..run.settings import ConfigError
from ..run.tracking import resolve_uri

ROOTS = {"hydra.run.dir": "outputs", "hydra.sweep.dir": "multirun"}  # as conf/config.yaml has them


def prepare(argv: list[str]) -> list[str]:
    """The overrides to add to ``argv`` (the command line without the program name, not --help or --cfg);
    refuses a tracking URI MLflow cannot use before any work."""
    check_tracking_uri(argv)
    key = "hydra.sweep.dir" if _multirun(argv) else "hydra.run.dir"
    if any(_key(a) == key for a in argv):  # the user's own directory, as given
        return []
    return [f"{key}={claim_output_dir(Path(ROOTS[key]))}"]


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

