"""The extension contract: the hooks a seqfw plugin may implement.

A plugin is a module (or object) with functions decorated by ``seqfw.hookimpl``
whose names match the specs below. seqfw's own cells are registered through
exactly these hooks (``seqfw.cells.builtin``); an installed package joins by
declaring an entry point in the group ``seqfw``::

    [project.entry-points.seqfw]
    mingru = "seqfw_mingru"

Specs only ever gain arguments; an implementation may accept a subset.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("seqfw")
hookimpl = pluggy.HookimplMarker("seqfw")


# ---------------------------------------------------------------------------
# Registration: called once, when the plugin manager is built
# ---------------------------------------------------------------------------


@hookspec
def seqfw_add_cells() -> list:
    """Contribute recurrent cells.

    Called once by ``seqfw.plugins.get_plugin_manager()`` (through
    ``seqfw.plugins.cell_registry()``) after the built-in cells and every entry
    point of group ``seqfw`` are registered, before any configuration is
    composed.

    Return a list of ``seqfw.CellSpec(name, cls, config)``: ``name`` is the value
    users select (``cell=<name>``), ``cls`` a ``seqfw.cells.Cell`` subclass whose
    constructor takes ``(input_size, hidden_size, **options)``, and ``config``
    a dataclass of the options with their defaults (``None`` if there are none).

    Results combine: the lists from every plugin are concatenated; two specs
    with the same name are an error naming both plugins.

    Added in seqfw 0.1.
    """
