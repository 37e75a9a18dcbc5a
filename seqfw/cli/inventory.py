"""``python -m seqfw.inventory``: every registered cell, task and topology, and where it comes from.

Built-ins come from the ``seqfw`` distribution; a plugin's entries from the distribution that
declares its entry point. Broken plugins are listed with the reason.
"""
from __future__ import annotations

from importlib.metadata import entry_points, version

from ..plugins.registry import BUILTIN, ENTRY_POINT_GROUP, registry
from .schema import conf_dir


def _sources() -> dict[str, str]:
    """plugin name -> "distribution version"."""
    out = {BUILTIN: f"seqfw {version('seqfw')}"}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None and ep.name not in out:
            out[ep.name] = f"{ep.dist.name} {ep.dist.version}"
    return out


def rows() -> list[tuple[str, str, str, str]]:
    """(kind, name, source, note) for every cell, task and topology."""
    sources, out = _sources(), []
    for kind in ("cell", "task"):
        known = registry(kind)
        for name in sorted(known.owners):
            plugin = known.owners[name]
            note = known.broken.get(name, "")
            out.append((kind, name, sources.get(plugin, f"plugin {plugin}"), "BROKEN: " + note if note else ""))
    own = sources[BUILTIN]
    out += [("topology", p.stem, own, "") for p in sorted((conf_dir() / "topology").glob("*.yaml"))]
    return out


def main() -> int:
    table = rows()
    width = max(len(name) for _, name, _, _ in table)
    current = None
    for kind, name, source, note in table:
        if kind != current:
            print({"cell": "cells:", "task": "tasks:", "topology": "topologies:"}[kind])
            current = kind
        print(f"  {name:<{width}}  {source}{'  ' + note if note else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
