"""Hydra sweeper/launcher plugins that seqfw documents, and a check that the chosen one is installed.

Hydra reports a missing plugin as "Could not load 'hydra/launcher/...'", which does
not say what to install. Before composing, ``missing_plugin`` reads the command line
(and the defaults of a selected ``experiment=``) for the options below and names the
extra that provides them.
"""
from __future__ import annotations

import importlib.util
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
