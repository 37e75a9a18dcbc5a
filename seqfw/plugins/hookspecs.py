"""The extension contract: the hooks a seqfw plugin may implement, what they return, the error.

A plugin is a module (or object) with functions decorated by ``seqfw.hookimpl``
whose names match the specs below. seqfw's own cells and tasks are registered through
exactly these hooks (``seqfw.plugins.builtin``); an installed package joins by
declaring an entry point in the group ``seqfw``::

    [project.entry-points.seqfw]
    mingru = "seqfw_mingru"

Specs only ever gain arguments; an implementation may accept a subset.

The plugin API has a version, ``PLUGIN_API`` ("major.minor"). Within a major version seqfw
only adds (a new hook, a new optional argument, a new optional ``Param`` field), so a plugin
written for 1.0 works with every 1.x; the minor version says what was added. A major version
changes only when something a plugin relies on changes incompatibly. A plugin declares the
version it was written for as ``SEQFW_PLUGIN_API = "1.0"`` in its module; a different major
version, or a newer minor one, is a warning naming the plugin's distribution
(``seqfw.plugins.loading.api_problem``).
"""
from __future__ import annotations

from dataclasses import dataclass

import pluggy

from ..engine.errors import SeqfwError

PLUGIN_API = "1.0"  # what this seqfw implements; see the module docstring for what a change means

hookspec = pluggy.HookspecMarker("seqfw")
hookimpl = pluggy.HookimplMarker("seqfw")


@dataclass(frozen=True)
class Spec:
    """What ``seqfw_add_cells`` / ``seqfw_add_tasks`` return: a selectable name, the class, its options."""

    name: str
    cls: type
    config: type | None = None  # dataclass of the options, with defaults


CellSpec = TaskSpec = Spec  # the same shape; the names say which hook returns them


class PluginError(SeqfwError, RuntimeError):
    """A plugin or a registry lookup went wrong; the message says what to do."""


class PluginWarning(RuntimeWarning):
    """A plugin, or one of its cells or tasks, was set aside; the others work. The message names the
    distribution to fix or uninstall (``warnings.filterwarnings("ignore", category=seqfw.PluginWarning)``
    silences them)."""


# ---------------------------------------------------------------------------
# Registration: called once, when the plugin manager is built
# ---------------------------------------------------------------------------


@hookspec
def seqfw_add_cells() -> list:
    """Contribute recurrent cells.

    Called once per process by ``seqfw.plugins.registry.cell_registry()``, after the
    built-in cells and every entry point of group ``seqfw`` are registered and
    before any configuration is composed (each cell's config is stored in
    Hydra's ConfigStore as ``cell/<name>``).

    Return a list of ``seqfw.CellSpec(name, cls, config)``: ``name`` is the value
    users select (``cell=<name>``), ``cls`` a ``seqfw.cells.Cell`` subclass whose
    constructor takes ``(input_size, hidden_size, **options)``, and ``config``
    a dataclass of the options with their defaults (``None`` if there are none).

    Results combine: the lists from every plugin are concatenated. A name already taken
    (a plugin's second ``lstm``) is set aside with a warning naming both distributions;
    the first registration (the built-ins come first) keeps the name.

    Added in seqfw 0.1.
    """


@hookspec
def seqfw_add_tasks() -> list:
    """Contribute tasks (data, batching, metrics, samples).

    Called once per process by ``seqfw.plugins.registry.task_registry()``, like
    ``seqfw_add_cells``. Return a list of ``seqfw.TaskSpec(name, cls, config)``:
    ``cls`` a ``seqfw.tasks.Task`` subclass built as ``cls(config_instance)``,
    ``config`` a dataclass whose fields (with defaults) become ``task.<key>``.

    Results combine: concatenated; a name already taken is set aside, as for cells.

    Added in seqfw 0.1.
    """
