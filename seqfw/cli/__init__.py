"""The command line (and its Python twin, ``seqfw.run``): the Hydra entry points (the only Hydra imports)
and the one error boundary.

    main       python -m seqfw: preflight, compose, train, summary; SeqfwError -> one paragraph, exit 2
    api        seqfw.run([...]) from Python: the same checks, Hydra's compose API, the same tracking
    schema     the shipped conf/ tree, the ConfigStore, --help
    preflight  the command line checked before Hydra composes (did-you-mean, types, plugins, output dir)
    sweep      a --multirun as an MLflow parent run with a child per job (a Hydra callback)
    sample     python -m seqfw.sample: sample from or score with a finished language model
    inventory  python -m seqfw.inventory: every cell, task, topology and plugin and where it comes from
    new_cell   python -m seqfw.new_cell NAME: a cell plugin package that passes its own tests at once
"""
from __future__ import annotations

import warnings


def plain_plugin_warnings() -> None:
    """Show a ``PluginWarning`` as one line, ``warning: <message>``, without Python's file:line and source
    echo (which point into seqfw, not at the plugin the message names). Called by each command's main."""
    from ..plugins.hookspecs import PluginWarning

    shown = warnings.formatwarning
    if getattr(shown, "plain_plugin_warnings", False):
        return

    def format_warning(message, category, filename, lineno, line=None):
        if issubclass(category, PluginWarning):
            return f"warning: {message}\n"
        return shown(message, category, filename, lineno, line)

    format_warning.plain_plugin_warnings = True
    warnings.formatwarning = format_warning
