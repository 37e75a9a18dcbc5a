"""``python -m seqfw.inventory``: every registered cell, task and topology, where it comes from, and the
plugins themselves.

Built-ins come from the ``seqfw`` distribution; a plugin's entries from the distribution that
declares its entry point. A broken cell or task is listed with the reason, a registration that
lost its name to an earlier one as SET ASIDE, and a plugin that failed to load as BROKEN in the
plugin list (with the plugin API each plugin declares).
"""
from __future__ import annotations

from ..plugins.hookspecs import PLUGIN_API
from . import plain_plugin_warnings
from ..plugins.loading import BUILTIN, Source, api_problem, seqfw_source
from ..plugins.registry import plugins, registry
from .schema import conf_dir

KINDS = {"cell": "cells:", "task": "tasks:", "topology": "topologies:", "plugin": "plugins:"}


def rows() -> list[tuple[str, str, str, str]]:
    """(kind, name, source, note) for every cell, task, topology and plugin."""
    out = []
    for kind in ("cell", "task"):
        known = registry(kind)
        entries = [(name, plugin, f"BROKEN: {known.broken[name]}" if name in known.broken else "")
                   for name, plugin in known.owners.items()]
        entries += [(name, plugin, f"SET ASIDE: {why}") for name, plugin, why in known.set_aside]
        out += [(kind, name, str(known.sources.get(plugin, Source(None, None))), note) for name, plugin, note in sorted(entries)]
    own = str(seqfw_source())
    out += [("topology", p.stem, own, "") for p in sorted((conf_dir() / "topology").glob("*.yaml"))]
    return out + _plugin_rows()


def _plugin_rows() -> list[tuple[str, str, str, str]]:
    """One row per plugin: its distribution, the plugin API it declares, and whether it could be used."""
    loaded, failed = plugins(), {**registry("cell").failed, **registry("task").failed}
    out = []
    for name, source in loaded.sources.items():
        declared = loaded.api.get(name)
        api = f"plugin API {declared}" if declared else "declares no plugin API"
        if name == BUILTIN:
            api = f"implements plugin API {PLUGIN_API}"
        note = f"BROKEN: {failed[name]}" if name in failed else (api_problem(declared) or "")
        out.append(("plugin", name, f"{source}  ({api})", ("WARNING: " if note and name not in failed else "") + note))
    out += [("plugin", name, str(source), f"SET ASIDE: {why}") for name, source, why in loaded.set_aside]
    return out


def main() -> int:
    plain_plugin_warnings()
    table = rows()
    width = max(len(name) for _, name, _, _ in table)
    current = None
    for kind, name, source, note in table:
        if kind != current:
            print(KINDS[kind])
            current = kind
        print(f"  {name:<{width}}  {source}{'  ' + note if note else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
