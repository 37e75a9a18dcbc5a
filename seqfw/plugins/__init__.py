"""The plugin layer: the hook specs and what they return, the registry, the built-in registrations.

    hookspecs  the contract (``seqfw_add_cells``, ``seqfw_add_tasks``), ``Spec``, ``PluginError``
    registry   the plugin manager, name -> spec, building a cell, network or task by name
    builtin    seqfw's own cells and tasks, registered through the same hooks as a plugin's
"""
