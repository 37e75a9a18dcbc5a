"""Checks of the command line made before Hydra composes, each with one clear message.

Unknown options and keys (with did-you-mean) and values of the wrong type, read from the same
schemas the config tree uses (``seqfw.run.config.keys_of``); which sweeper/launcher plugins
seqfw documents, and that the chosen one is installed; and that Hydra's output directory can
be created (Hydra reports an unwritable one with a traceback).

Hydra reports a missing plugin as "Could not load 'hydra/launcher/...'", which does
not say what to install. Before composing, ``missing_plugin`` reads the command line
(and the defaults of a selected ``experiment=``) for the options below and names the
extra that provides them.
"""
from __future__ import annotations

import difflib
import importlib.util
import os
import re
import typing
from pathlib import Path
from typing import Any

from ..run.config import keys_of
from .schema import default_choices, group_options

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


def _bad_value(value: str, kind: Any) -> str | None:
    """What ``value`` should have been, if it cannot be a ``kind`` (int, float, bool, Optional of these)."""
    args = typing.get_args(kind)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), kind) if args else kind
    text = value.strip()
    if optional and text.lower() in ("null", "none", "~"):
        return None
    checks = {int: (lambda v: int(v), "a whole number"), float: (lambda v: float(v), "a number"),
              bool: (lambda v: {"true": 1, "false": 0}[v.lower()], "true or false")}
    if base not in checks:
        return None
    convert, what = checks[base]
    try:
        convert(text)
    except (ValueError, KeyError):
        return what + (" or null" if optional else "")
    return None


def check_overrides(argv: list[str]) -> str | None:
    """One clear message for the commonest command-line mistakes, before Hydra composes.

    Hydra's own messages for these are right but long ("Could not find 'cell/lstmm'" with the
    search path; "Could not override 'train.stepz'. To append to your config use +train.stepz",
    which seqfw then refuses). Anything this does not recognise is left to Hydra.
    """
    groups, defaults = group_options(), default_choices()
    args = [a for a in argv if not a.startswith("-") and "=" in a]
    choices = {k: v for k, _, v in (a.partition("=") for a in args) if k in groups}
    for group, value in choices.items():
        options = [v.strip() for v in value.split(",")] if "," in value else [value.strip()]
        for option in options:
            if option and option != "null" and option not in groups[group] and not option.startswith(("choice(", "range(", "glob(")):
                close = difflib.get_close_matches(option, groups[group], n=1)
                return (f"unknown {group} {option!r}" + (f" (did you mean {close[0]}?)" if close else "") +
                        f"; choose one of: {', '.join(groups[group])}. `python -m seqfw --help` lists every group.")
    experiment = choices.get("experiment") not in (None, "null")
    for arg in args:
        key = arg.partition("=")[0]
        if "." not in key or key.startswith(("+", "~", "hydra.")):
            continue
        group, _, rest = key.partition(".")
        if group in ("cell", "task", "optim") and (experiment or "," in choices.get(group, "")) and group not in choices:
            continue  # an experiment (or a sweep over the group) may choose another option: leave it to Hydra
        option = choices.get(group, defaults.get(group))
        fields = keys_of(group, option)
        name = rest.split(".")[0]
        if fields is None:
            continue
        owner = f"{group}={option}" if group in ("cell", "task", "optim") else group
        if name not in fields:
            close = difflib.get_close_matches(name, sorted(fields), n=1)
            return (f"unknown key {key}" + (f" (did you mean {group}.{close[0]}?)" if close else "") +
                    f": {owner} has {', '.join(sorted(fields))}. `python -m seqfw --cfg job` prints the whole config.")
        value = arg.partition("=")[2]
        if "." not in rest and not any(c in value for c in ",${}(") and (what := _bad_value(value, fields[name])):
            return f"{key} must be {what}, got {value!r} ({owner}); `python -m seqfw --cfg job` shows every key and its default."
    return None
