"""The plugin manager and the name -> cell registry it feeds.

Order of registration: seqfw's built-in cells (``seqfw.cells.builtin``, also
declared as an entry point so it is listed like any other), then every entry
point of group ``seqfw``. A plugin that fails to import is reported with a
warning and skipped: one broken package never breaks the other cells.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "seqfw"


@dataclass(frozen=True)
class CellSpec:
    """What ``seqfw_add_cells`` returns: a selectable name, the cell class and its options."""

    name: str
    cls: type
    config: type | None = None  # dataclass of the cell's options, with defaults


class PluginError(RuntimeError):
    """A plugin or a registry lookup went wrong; the message says what to do."""


def get_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager with the hookspecs, the built-ins and (optionally) installed plugins."""
    from .cells import builtin

    pm = pluggy.PluginManager("seqfw")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="builtin_cells")
    if load_entry_points:
        _load_entry_points(pm)
    pm.check_pending()
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as err:  # a third party's import error must not stop seqfw
            dist = ep.dist.name if ep.dist else "unknown package"
            warnings.warn(
                f"seqfw plugin {ep.name!r} ({ep.value}, from {dist}) failed to load and is "
                f"skipped: {type(err).__name__}: {err}. Fix or uninstall that package; "
                "the other cells are unaffected.",
                RuntimeWarning,
                stacklevel=2,
            )


@lru_cache(maxsize=None)
def cell_registry() -> dict[str, CellSpec]:
    """Every registered cell by name (built once per process)."""
    return _collect_cells(get_plugin_manager())


def _collect_cells(pm: pluggy.PluginManager) -> dict[str, CellSpec]:
    registry: dict[str, CellSpec] = {}
    owner: dict[str, str] = {}
    for impl in pm.hook.seqfw_add_cells.get_hookimpls():  # registration order: built-ins first
        for spec in impl.function() or []:
            if spec.name in registry:
                raise PluginError(
                    f"cell name {spec.name!r} is registered twice, by plugins {owner[spec.name]!r} "
                    f"and {impl.plugin_name!r}; uninstall one of them or rename its cell."
                )
            registry[spec.name] = spec
            owner[spec.name] = impl.plugin_name
    return registry


def make_cell(name: str, input_size: int, hidden_size: int, **options: Any):
    """Build the cell registered as ``name``, checking ``options`` against its config."""
    registry = cell_registry()
    if name not in registry:
        raise PluginError(
            f"unknown cell {name!r}; registered cells: {', '.join(sorted(registry))}. "
            "A third-party cell must be installed (`pip install <package>`) to be selectable."
        )
    spec = registry[name]
    allowed = {f.name for f in dataclasses.fields(spec.config)} if spec.config else set()
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise PluginError(
            f"cell {name!r} has no option {', '.join(map(repr, unknown))}; its options are: "
            f"{', '.join(sorted(allowed)) or '(none)'}."
        )
    values = dataclasses.asdict(spec.config(**options)) if spec.config else {}
    return spec.cls(input_size, hidden_size, **values)
