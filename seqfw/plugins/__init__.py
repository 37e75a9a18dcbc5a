"""The plugin layer: the hook specs and what they return, the registry, the built-in registrations.

    hookspecs  the contract (``seqfw_add_cells``, ``seqfw_add_tasks``), ``Spec``, ``PluginError``,
               ``PluginWarning``, the plugin API version ``PLUGIN_API``
    loading    the plugin manager: built-ins, then every installed entry point, each contained;
               where each plugin comes from (its distribution) and the API it declares
    registry   name -> spec, each spec probed and a taken name set aside; building by name
    builtin    seqfw's own cells and tasks, registered through the same hooks as a plugin's
"""
