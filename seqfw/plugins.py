"""The plugin manager and the name -> cell registry it feeds.

Order of registration: seqfw's built-in cells (``seqfw.cells.builtin``, also
declared as an entry point so it is listed like any other), then every entry
point of group ``seqfw``. A plugin that fails to import is reported with a
warning and skipped: one broken package never breaks the other cells.
"""
from __future__ import annotations

import dataclasses
import typing
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "seqfw"


@dataclass(frozen=True)
class Spec:
    """What ``seqfw_add_cells`` / ``seqfw_add_tasks`` return: a selectable name, the class, its options."""

    name: str
    cls: type
    config: type | None = None  # dataclass of the options, with defaults


CellSpec = TaskSpec = Spec  # the same shape; the names say which hook returns them


class PluginError(RuntimeError):
    """A plugin or a registry lookup went wrong; the message says what to do."""


def get_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager with the hookspecs, the built-ins and (optionally) installed plugins."""
    from .cells import builtin
    from .tasks import builtin as builtin_tasks

    pm = pluggy.PluginManager("seqfw")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="builtin_cells")
    pm.register(builtin_tasks, name="builtin_tasks")
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
def _manager() -> pluggy.PluginManager:
    return get_plugin_manager()


@lru_cache(maxsize=None)
def cell_registry() -> dict[str, Spec]:
    """Every registered cell by name (built once per process)."""
    return _collect(_manager(), "cell")


@lru_cache(maxsize=None)
def task_registry() -> dict[str, Spec]:
    """Every registered task by name (built once per process)."""
    return _collect(_manager(), "task")


def plugin_of(kind: str, name: str) -> str:
    """The name of the plugin that registered cell/task ``name``."""
    return _collect(_manager(), kind, owners=True)[name]


def _collect(pm: pluggy.PluginManager, kind: str, owners: bool = False) -> dict:
    hook = getattr(pm.hook, f"seqfw_add_{kind}s")
    registry: dict[str, Spec] = {}
    owner: dict[str, str] = {}
    for impl in hook.get_hookimpls():  # registration order: built-ins first
        for spec in impl.function() or []:
            if spec.name in registry:
                raise PluginError(
                    f"{kind} name {spec.name!r} is registered twice, by plugins {owner[spec.name]!r} "
                    f"and {impl.plugin_name!r}; uninstall one of them or rename its {kind}."
                )
            registry[spec.name] = spec
            owner[spec.name] = impl.plugin_name
    return owner if owners else registry


def _collect_cells(pm: pluggy.PluginManager) -> dict[str, Spec]:
    return _collect(pm, "cell")


def _options(kind: str, registry: dict, name: str, options: dict) -> tuple[Spec, dict]:
    if name not in registry:
        raise PluginError(
            f"unknown {kind} {name!r}; registered {kind}s: {', '.join(sorted(registry))}. "
            f"A third-party {kind} must be installed (`pip install <package>`) to be selectable."
        )
    spec = registry[name]
    allowed = {f.name for f in dataclasses.fields(spec.config)} if spec.config else set()
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise PluginError(
            f"{kind} {name!r} has no option {', '.join(map(repr, unknown))}; its options are: "
            f"{', '.join(sorted(allowed)) or '(none)'}."
        )
    return spec, (dataclasses.asdict(_instance(spec.config, options)) if spec.config else {})


def _instance(cls: type, values: dict, where: str = ""):
    """``cls(**values)``, building nested dataclass fields from their dicts (``task.data.path``)."""
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise PluginError(f"unknown option {', '.join(where + k for k in unknown)}; the options there are: "
                          f"{', '.join(f.name for f in dataclasses.fields(cls))}.")
    kwargs = {k: _instance(hints[k], v, f"{where}{k}.") if dataclasses.is_dataclass(hints.get(k))
              and isinstance(v, dict) else v for k, v in values.items()}
    return cls(**kwargs)


def make_cell(name: str, input_size: int, hidden_size: int, **options: Any):
    """Build the cell registered as ``name``, checking ``options`` against its config."""
    spec, values = _options("cell", cell_registry(), name, options)
    return spec.cls(input_size, hidden_size, **values)


def make_task(name: str, **options: Any):
    """Build the task registered as ``name`` from its config dataclass (validated by the task)."""
    spec, _ = _options("task", task_registry(), name, options)
    return spec.cls(_instance(spec.config, options))
