"""The plugin manager and the name -> cell / task registries it feeds; building by name.

Order of registration: seqfw's built-ins (``seqfw.plugins.builtin``, also declared as an
entry point so it is listed like any other), then every entry point of group ``seqfw``.
A plugin that fails to import is reported with a warning and skipped: one broken
package never breaks the other cells.
"""
from __future__ import annotations

import dataclasses
import typing
import warnings
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pluggy

from ..engine.cells import Cell
from ..engine.errors import SeqfwError
from ..engine.recurrence import Stacked, stack, unroll, unroll_backward
from ..tasks import Task
from . import builtin, hookspecs
from .hookspecs import PluginError, Spec

ENTRY_POINT_GROUP = "seqfw"
BUILTIN = "builtin"  # the built-ins' plugin (and entry point) name


def get_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager with the hookspecs, the built-ins and (optionally) installed plugins."""
    pm = pluggy.PluginManager("seqfw")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name=BUILTIN)
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


class Registry(NamedTuple):
    specs: dict  # name -> Spec, usable
    owners: dict  # name -> plugin name, for every name seen (usable or broken)
    broken: dict  # name -> why it cannot be used


@lru_cache(maxsize=None)
def registry(kind: str) -> Registry:
    """Every registered cell or task (``kind``), built once per process, broken ones set aside."""
    return _collect(_manager(), kind)


def cell_registry() -> dict[str, Spec]:
    """Every usable registered cell by name."""
    return registry("cell").specs


def task_registry() -> dict[str, Spec]:
    """Every usable registered task by name."""
    return registry("task").specs


def plugin_of(kind: str, name: str) -> str:
    """The name of the plugin that registered cell/task ``name``."""
    return registry(kind).owners[name]


def _warn(message: str) -> None:
    warnings.warn(message + " The other cells and tasks are unaffected.", RuntimeWarning, stacklevel=3)


def _collect(pm: pluggy.PluginManager, kind: str) -> Registry:
    """Call every plugin's hook; a hook that raises or returns a bad spec is reported and skipped."""
    hook = getattr(pm.hook, f"seqfw_add_{kind}s")
    out = Registry({}, {}, {})
    for impl in hook.get_hookimpls():  # registration order: built-ins first
        try:
            specs = list(impl.function() or [])
        except Exception as err:  # a third party's bug must not stop seqfw
            _warn(f"seqfw plugin {impl.plugin_name!r} raised in seqfw_add_{kind}s and is skipped: "
                  f"{type(err).__name__}: {err}.")
            continue
        for spec in specs:
            name = getattr(spec, "name", repr(spec))
            if name in out.owners:
                raise PluginError(
                    f"{kind} name {name!r} is registered twice, by plugins {out.owners[name]!r} "
                    f"and {impl.plugin_name!r}; uninstall one of them or rename its {kind}."
                )
            out.owners[name] = impl.plugin_name
            problem = _problem(kind, spec)
            if problem:
                out.broken[name] = f"{kind} {name!r} from plugin {impl.plugin_name!r} is broken: {problem}"
                _warn(out.broken[name] + ".")
            else:
                out.specs[name] = spec
    return out


def _problem(kind: str, spec) -> str | None:
    """Why ``spec`` cannot be used, or None: wrong types, or (for a cell) one step that fails."""
    base = Cell if kind == "cell" else Task
    if not isinstance(spec, Spec):
        return f"seqfw_add_{kind}s must return seqfw.Spec objects, got {type(spec).__name__}"
    if not (isinstance(spec.cls, type) and issubclass(spec.cls, base)):
        return f"its class {spec.cls!r} is not a subclass of {base.__module__}.{base.__name__}"
    if spec.config is not None and not dataclasses.is_dataclass(spec.config):
        return f"its config {spec.config!r} is not a dataclass"
    if kind == "cell":
        try:
            _smoke(spec)
        except Exception as err:
            return f"one forward and backward step failed ({type(err).__name__}: {err})"
    return None


def _smoke(spec) -> None:
    """Build the cell with its defaults and run two steps forward and back (cheap; the full kit is seqfw.testing)."""
    options = dataclasses.asdict(spec.config()) if spec.config else {}
    cell = spec.cls(2, 3, **options)
    params = cell.init_params(np.random.default_rng(0), np, np.float64)
    x = np.ones((2, 1, 2))
    ys, _, cache = unroll(cell, params, x, cell.initial_state(1, np, np.float64))
    unroll_backward(cell, params, np.ones_like(ys), None, cache)


def _spec(kind: str, name: str) -> Spec:
    """The usable spec of cell/task ``name``, or a PluginError saying what is registered."""
    known = registry(kind)
    if name in known.broken:
        raise PluginError(f"{known.broken[name]}. Fix or uninstall that plugin, or choose another {kind}.")
    if name not in known.specs:
        raise PluginError(
            f"unknown {kind} {name!r}; registered {kind}s: {', '.join(sorted(known.specs))}. "
            f"A third-party {kind} must be installed (`pip install <package>`) to be selectable."
        )
    return known.specs[name]


def _config(kind: str, name: str, spec: Spec, options: dict):
    """The spec's config dataclass built from ``options`` (None for a spec without one), unknown keys refused."""
    if spec.config is None and not options:
        return None
    return _construct(kind, name, spec, options, lambda: _instance(spec.config, options, f"{kind} {name!r}"))


def _instance(cls: type | None, values: dict, owner: str, where: str = ""):
    """``cls(**values)``, building nested dataclass fields from their dicts (``task.data.path``)."""
    known = [f.name for f in dataclasses.fields(cls)] if cls else []
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise PluginError(f"{owner} has no option {', '.join(repr(where + k) for k in unknown)}; "
                          f"its options {'there ' if where else ''}are: {', '.join(sorted(known)) or '(none)'}.")
    hints = typing.get_type_hints(cls)
    kwargs = {k: _instance(hints[k], v, owner, f"{where}{k}.") if dataclasses.is_dataclass(hints.get(k))
              and isinstance(v, dict) else v for k, v in values.items()}
    return cls(**kwargs)


def _construct(kind: str, name: str, spec: Spec, options: dict, construct):
    """``construct()``: a plugin's config dataclass or constructor. A ``SettingError`` names its argument (the
    caller maps it to a config key); a plain ``ValueError`` (how the first plugin guide refused an option)
    is shown as the user's error too, with the options that differ from their defaults."""
    try:
        return construct()
    except SeqfwError:
        raise
    except ValueError as err:
        defaults = dataclasses.asdict(spec.config()) if spec.config else {}
        changed = ", ".join(f"{kind}.{k}={v!r}" for k, v in options.items() if defaults.get(k) != v)
        raise PluginError(f"{kind}={name} refused its options{f' ({changed})' if changed else ''}: {err}") from None


def _cell_factory(name: str, options: dict):
    """``make(input_size, hidden_size)`` for cell ``name`` with ``options``, checked once, here."""
    spec = _spec("cell", name)
    config = _config("cell", name, spec, options)
    values = dataclasses.asdict(config) if config is not None else {}
    return lambda d, h: _construct("cell", name, spec, options, lambda: spec.cls(d, h, **values))


def make_cell(name: str, input_size: int, hidden_size: int, **options: Any):
    """Build the cell registered as ``name``, checking ``options`` against its config."""
    return _cell_factory(name, options)(input_size, hidden_size)


def make_task(name: str, **options: Any):
    """Build the task registered as ``name`` from its config dataclass (validated by the task)."""
    spec = _spec("task", name)
    config = _config("task", name, spec, options)
    return _construct("task", name, spec, options, lambda: spec.cls(config))


def recurrent(cell: str, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
              dropout: float = 0.0, **cell_options: Any) -> Stacked:
    """A ``Stacked`` network of the registered cell ``cell`` (``"lstm"``, a plugin's name, ...).

    The name is resolved here, once; the engine's ``stack`` gets a cell factory. A misspelt option
    is refused before any cell is built.
    """
    return stack(_cell_factory(cell, cell_options), input_size, hidden_size, num_layers, bidirectional, dropout)
