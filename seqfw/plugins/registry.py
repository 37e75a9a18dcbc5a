"""The name -> cell / task registries the plugins feed; looking up, describing and building by name.

Plugins are loaded by ``seqfw.plugins.loading`` (built-ins first, then every entry point of group
``seqfw``). Here each plugin's hook is called once per process and its specs are checked; nothing a
plugin returns can stop the others: a hook that raises, a spec that is not a ``Spec``, a class that
is not a ``Cell``, a cell whose probe step fails or returns an array of the wrong shape, and a name
already taken are each reported once (a ``PluginWarning`` naming the distribution) and set aside.
"""
from __future__ import annotations

import dataclasses
import typing
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from ..engine.cells import Cell
from ..engine.errors import SeqfwError
from ..engine.recurrence import Stacked, stack, unroll, unroll_backward
from ..tasks import Task
from .hookspecs import PluginError, Spec
from .loading import BUILTIN, ENTRY_POINT_GROUP, Plugins, Source, first_line, load_plugins, warn

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "Registry", "cell_registry", "get_plugin_manager",
           "make_cell", "make_task", "plugins", "recurrent", "registry", "source_of", "task_registry",
           "unavailable"]


def get_plugin_manager(load_entry_points: bool = True):
    """A fresh pluggy manager with the hookspecs, the built-ins and (optionally) installed plugins."""
    return load_plugins(load_entry_points).pm


@lru_cache(maxsize=None)
def plugins() -> Plugins:
    """This process's plugins, loaded once."""
    return load_plugins()


class Registry(NamedTuple):
    specs: dict  # name -> Spec, usable
    owners: dict  # name -> plugin name, for every name registered (usable or broken)
    broken: dict  # name -> why it cannot be used
    set_aside: list  # (name, plugin name, why): registrations that lost their name to an earlier one
    failed: dict  # plugin name -> why none of its entries can be used (failed to load, hook raised)
    sources: dict  # plugin name -> Source


@lru_cache(maxsize=None)
def registry(kind: str) -> Registry:
    """Every registered cell or task (``kind``), built once per process, broken ones set aside."""
    return _collect(plugins(), kind)


def cell_registry() -> dict[str, Spec]:
    """Every usable registered cell by name."""
    return registry("cell").specs


def task_registry() -> dict[str, Spec]:
    """Every usable registered task by name."""
    return registry("task").specs


def source_of(kind: str, name: str) -> Source:
    """The distribution that supplies cell/task ``name`` (``seqfw`` itself for a built-in)."""
    known = registry(kind)
    return known.sources.get(known.owners.get(name), Source(None, None))


def _collect(plugins: Plugins, kind: str) -> Registry:
    """Call every plugin's hook, in registration order (built-ins first); whatever a hook does wrong
    is reported and set aside, never raised."""
    hook = getattr(plugins.pm.hook, f"seqfw_add_{kind}s")
    out = Registry({}, {}, {}, [], dict(plugins.failed), plugins.sources)
    order = [name for name, _ in plugins.pm.list_name_plugin()]  # registration order: built-ins first
    # not pluggy's call order, in which a plugin's tryfirst/trylast would outrank the built-ins' names
    for impl in sorted(hook.get_hookimpls(), key=lambda impl: order.index(impl.plugin_name)):
        source = plugins.sources.get(impl.plugin_name, Source(None, None))
        try:
            specs = impl.function() or []
            problem = (None if isinstance(specs, (list, tuple)) else
                       f"seqfw_add_{kind}s returned {type(specs).__name__}, not a list of seqfw.Spec")
        except (Exception, SystemExit) as err:  # a third party's bug (or exit()) must not stop seqfw
            problem = f"seqfw_add_{kind}s raised {type(err).__name__}: {first_line(err)}"
        if problem:
            out.failed[impl.plugin_name] = f"could not register its {kind}s ({problem})"
            warn(f"seqfw plugin {impl.plugin_name!r} from {source} {out.failed[impl.plugin_name]}; they are "
                  f"skipped. Fix or uninstall {source.dist}; the other cells and tasks are unaffected.")
            continue
        for spec in specs:
            _add(out, kind, spec, impl.plugin_name, source)
    return out


def _add(out: Registry, kind: str, spec, plugin: str, source: Source) -> None:
    """Register one spec under its name, unless the name is taken or the spec is broken."""
    try:
        name = getattr(spec, "name", None)
    except Exception:  # a property that raises
        name = None
    if problem := name_problem(name):
        shown = " ".join(_safe_repr(spec).split())[:80]
        why = (f"seqfw plugin {plugin!r} from {source} returned {shown} from seqfw_add_{kind}s, whose name {problem}; "
               f"it is skipped. Fix or uninstall {source.dist or 'that plugin'}.")
        out.set_aside.append((str(name), plugin, why))
        warn(why)
        return
    if name in out.owners:
        why = _taken(kind, name, source, out.sources.get(out.owners[name], Source(None, None)))
        out.set_aside.append((name, plugin, why))
        warn(why)
        return
    out.owners[name] = plugin
    problem = _problem(kind, spec)
    if problem:
        out.broken[name] = f"{kind} {name!r} from plugin {plugin!r} ({source}) is broken: {problem}"
        warn(out.broken[name] + ". The other cells and tasks are unaffected.")
    else:
        out.specs[name] = spec


RESERVED = ("null", "true", "false", "nan", "inf")  # what the command line reads as a value, not a name


def name_problem(name) -> str | None:
    """Why ``name`` cannot be selected as ``cell=<name>`` / ``task=<name>``, or None."""
    if not isinstance(name, str) or not name.isidentifier():
        return "is not a Python identifier"
    if name.lower() in RESERVED:
        return f"{name!r} would be read by the command line as a value ({name.lower()}), not as a name"
    return None


def _safe_repr(obj) -> str:
    try:
        return repr(obj)
    except Exception:
        return f"<{type(obj).__name__}>"


def _taken(kind: str, name: str, source: Source, owner: Source) -> str:
    """The one line that sets aside a second registration of ``name``: both distributions, which one wins."""
    head = f"{kind} {name!r} from {source} is set aside: {owner} already registers {name!r}, and that one is used."
    if source.dist is None:
        return head
    if owner.dist == "seqfw" or owner.dist == source.dist:
        return f"{head} Uninstall {source.dist} (`pip uninstall {source.dist}`) or ask its authors to rename it."
    return f"{head} Uninstall whichever of {source.dist} and {owner.dist} you do not want."


def _problem(kind: str, spec) -> str | None:
    """Why ``spec`` cannot be used, or None: wrong types, or (for a cell) a probe step that fails."""
    base = Cell if kind == "cell" else Task
    if not isinstance(spec, Spec):
        return f"seqfw_add_{kind}s must return seqfw.Spec objects, got {type(spec).__name__}"
    if not (isinstance(spec.cls, type) and issubclass(spec.cls, base)):
        return f"its class {spec.cls!r} is not a subclass of {base.__module__}.{base.__name__}"
    if problem := _config_problem(spec.config):
        return problem
    if kind == "cell":
        return _probe(spec)
    return None


def _config_problem(config) -> str | None:
    """Why a spec's config cannot be a config group's schema: not a dataclass class, a field without a
    default (the command line composes every key from its default), or defaults it refuses itself."""
    if config is None:
        return None
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        return f"its config {_safe_repr(config)[:80]} is not a dataclass class"
    required = [f.name for f in dataclasses.fields(config)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if required:
        return f"its config {config.__name__} has fields without a default ({', '.join(required)}); every option needs one"
    try:
        config()
    except (Exception, SystemExit) as err:
        return f"its config {config.__name__} refuses its own defaults ({type(err).__name__}: {first_line(err)})"
    return None


def _probe(spec) -> str | None:
    """Build the cell with its default options and check one step's every returned array against the
    declared shapes (distinct batch, input and hidden sizes, so NumPy cannot broadcast a wrong one into
    place), then two steps through the time loop. Milliseconds; the whole kit is ``seqfw.testing``."""
    try:
        options = dataclasses.asdict(spec.config()) if spec.config else {}
        spec.cls(5, 7, **options)
    except (Exception, SystemExit) as err:
        return f"building it with its default options failed ({type(err).__name__}: {first_line(err)})"
    from ..engine.conformance import check_shapes  # the kit: loaded when a plugin's cell is probed

    try:
        check_shapes(lambda d, h: spec.cls(d, h, **options))
        cell = spec.cls(2, 3, **options)
        params = cell.init_params(np.random.default_rng(0), np, np.float64)
        ys, _, cache = unroll(cell, params, np.ones((2, 1, 2)), cell.initial_state(1, np, np.float64))
        unroll_backward(cell, params, np.ones_like(ys), None, cache)
    except AssertionError as err:  # the kit's CellCheckError: every way the cell breaks the contract
        return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
    except (Exception, SystemExit) as err:
        return f"one forward and backward step failed ({type(err).__name__}: {first_line(err)})"
    return None


def unavailable(kind: str, name: str) -> str | None:
    """Why cell/task ``name`` cannot be used, in one paragraph naming the fix; None when it can."""
    known = registry(kind)
    if name in known.specs:
        return None
    if name in known.broken:
        source = known.sources.get(known.owners[name], Source(None, None))
        return f"{known.broken[name]}. Fix or uninstall {source.dist or 'that plugin'}, or choose another {kind}."
    if name in known.failed:  # the entry point's own name: the likeliest thing a user selects
        source = known.sources.get(name, Source(None, None))
        return (f"{kind} {name!r} is not available: the seqfw plugin {name!r} from {source} {known.failed[name]}. "
                f"Fix or uninstall {source.dist}, or choose another {kind} ({', '.join(sorted(known.specs))}).")
    return (f"unknown {kind} {name!r}; registered {kind}s: {', '.join(sorted(known.specs))}. "
            f"A third-party {kind} must be installed (`pip install <package>`) to be selectable.")


def _spec(kind: str, name: str) -> Spec:
    """The usable spec of cell/task ``name``, or a PluginError saying why not."""
    if problem := unavailable(kind, name):
        raise PluginError(problem)
    return registry(kind).specs[name]


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
    except Exception as err:
        source = source_of(kind, name)
        if source.dist == "seqfw":
            raise  # a built-in's failure is seqfw's bug: the error boundary shows it as one
        given = ", ".join(f"{kind}.{k}={v!r}" for k, v in options.items())
        raise PluginError(f"{kind}={name} from {source} failed to build{f' with {given}' if given else ''} "
                          f"({type(err).__name__}: {first_line(err)}). This is a bug in {source.dist or 'that plugin'}: "
                          f"report it to its authors, fix or uninstall it, or choose another {kind}.") from None


def _cell_factory(name: str, options: dict):
    """``make(input_size, hidden_size)`` for cell ``name`` with ``options``, checked once, here. A plugin's
    cell is probed again with these very options (the registry's probe used the defaults): a shape that
    is wrong only for some option must not be broadcast into training either."""
    spec = _spec("cell", name)
    config = _config("cell", name, spec, options)
    values = dataclasses.asdict(config) if config is not None else {}

    def make(d, h):
        return _construct("cell", name, spec, options, lambda: spec.cls(d, h, **values))

    if options and source_of("cell", name).dist != "seqfw":
        _check_options(name, make, options)
    return make


def _check_options(name: str, make, options: dict) -> None:
    """``check_shapes`` on a plugin cell built with the user's ``options``; a broken contract is the plugin's
    error, named with its package."""
    from ..engine.conformance import check_shapes

    try:
        check_shapes(make)
    except AssertionError as err:  # the kit's CellCheckError
        source = source_of("cell", name)
        given = ", ".join(f"cell.{k}={v!r}" for k, v in options.items())
        problems = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
        raise PluginError(f"cell={name} from {source} breaks the cell contract with {given}: {problems}. This is a "
                          f"bug in {source.dist or 'that plugin'}: report it, or choose other options or another "
                          f"cell.") from None


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
