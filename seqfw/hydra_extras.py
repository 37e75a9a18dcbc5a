"""Checks of what Hydra itself would do with the command line, made before it runs.

Which sweeper/launcher plugins seqfw documents, and that the chosen one is installed; and that
Hydra's output directory can be created (Hydra reports an unwritable one with a traceback).

Hydra reports a missing plugin as "Could not load 'hydra/launcher/...'", which does
not say what to install. Before composing, ``missing_plugin`` reads the command line
(and the defaults of a selected ``experiment=``) for the options below and names the
extra that provides them.
"""
from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

# (group, option) -> (module the option comes from, what to install)
PLUGINS = {
    ("hydra/sweeper", "optuna"): ("hydra_plugins.hydra_optuna_sweeper", "seqfw[optuna]"),
    ("hydra/launcher", "joblib"): ("hydra_plugins.hydra_joblib_launcher", "seqfw[sweep]"),
    ("hydra/launcher", "slurm"): ("hydra_plugins.hydra_submitit_launcher", "seqfw[slurm]"),
    ("hydra/launcher", "submitit_slurm"): ("hydra_plugins.hydra_submitit_launcher", "seqfw[slurm]"),
    ("hydra/launcher", "submitit_local"): ("hydra_plugins.hydra_submitit_launcher", "seqfw[slurm]"),
    ("hydra/launcher", "ray"): ("hydra_plugins.hydra_ray_launcher", "seqfw[ray]"),
    ("hydra/launcher", "ray_cluster"): ("hydra_plugins.hydra_ray_launcher", "seqfw[ray]"),
    ("hydra/launcher", "ray_aws"): ("hydra_plugins.hydra_ray_launcher", "seqfw[ray]"),
}

_OVERRIDE = re.compile(r"^\s*-\s*override\s+/?(hydra/(?:sweeper|launcher))\s*:\s*(\w+)\s*$")


def requested(argv: list[str], experiments: Path) -> list[tuple[str, str, str]]:
    """(group, option, where) for every sweeper/launcher option the command line selects."""
    found = []
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key in ("hydra/sweeper", "hydra/launcher"):
            found.append((key, value, "the command line"))
        elif key == "experiment" and value:
            path = experiments / f"{value}.yaml"
            if path.is_file():
                for line in path.read_text(encoding="utf-8").splitlines():
                    if m := _OVERRIDE.match(line):
                        found.append((m.group(1), m.group(2), f"experiment={value}"))
    return found


def missing_plugin(argv: list[str], experiments: Path) -> str | None:
    """A one-paragraph error if a selected sweeper or launcher's Hydra plugin is not installed."""
    for group, option, where in requested(argv, experiments):
        module, extra = PLUGINS.get((group, option), (None, None))
        if module and not _has(module):
            return (f"{group}={option} (from {where}) needs the Hydra plugin {module.split('.')[-1].replace('_', '-')}, "
                    f"which is not installed. Install it with: pip install '{extra}' "
                    f"(docs/sweeps.md lists the sweepers and launchers seqfw supports and their pinned versions).")
    return None


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def output_dir_problem(argv: list[str], cwd: Path | None = None) -> str | None:
    """A one-paragraph error if Hydra's run (or sweep) directory cannot be created."""
    multirun = any(a in ("-m", "--multirun") for a in argv)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = [a.partition("=")[2] for a in argv if a.partition("=")[0] == key]
    target = Path(given[-1].split("${")[0] or ".") if given else Path("multirun" if multirun else "outputs")
    target = (cwd or Path.cwd()) / target.expanduser()
    parent = target
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return None
    problem = "is a file, not a directory" if parent.exists() and not parent.is_dir() else "is not writable"
    return (f"cannot create the output directory {target}: {parent} {problem}. Run from a directory you "
            f"can write to, or set {key}=/a/writable/path (runs also write ./mlflow.db unless tracking.uri "
            "says otherwise).")
