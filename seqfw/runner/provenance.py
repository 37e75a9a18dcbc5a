"""Where a run's cell and task came from: the distribution and version that supplied each.

Recorded three ways, so that a run can be reproduced and served elsewhere: as MLflow tags
(``seqfw.cell.dist``, ``seqfw.cell.dist_version``, the same for the task), as the logged pyfunc
model's pip requirements (``seqfw==0.1.0``, ``seqfw-mingru==0.1.0``: ``mlflow models serve`` in a
fresh environment installs the cell's package), and inside every checkpoint (a ``sources`` text
member), so that loading a checkpoint whose plugin is missing names the package to install.
"""
from __future__ import annotations

import json

from ..plugins.loading import Source, seqfw_source
from ..plugins.registry import source_of

GROUPS = ("cell", "task")  # the groups a plugin can supply
LIMIT = 10_000  # characters: far beyond two names and versions; a larger member is not seqfw's


def sources(cfg) -> dict[str, dict]:
    """``{"cell": {"name", "dist", "version"}, "task": {...}}`` for the run ``cfg`` describes."""
    out = {}
    for group in GROUPS:
        name = cfg[group].name
        dist, ver = source_of(group, name)
        out[group] = {"name": name, "dist": dist, "version": ver}
    return out


def tags(found: dict[str, dict]) -> dict[str, str]:
    """The MLflow tags: ``seqfw.cell.dist``, ``seqfw.cell.dist_version``, the same for ``task``."""
    out = {}
    for group, where in found.items():
        if where["dist"]:
            out[f"seqfw.{group}.dist"] = where["dist"]
            out[f"seqfw.{group}.dist_version"] = where["version"]
    return out


def requirements(found: dict[str, dict]) -> list[str]:
    """pip requirements that reinstall what the run used: seqfw, and each plugin's distribution, pinned."""
    out = [seqfw_source().requirement()]
    for where in found.values():
        req = Source(where["dist"], where["version"]).requirement()
        if req and req not in out:
            out.append(req)
    return out


def to_text(found: dict[str, dict]) -> str:
    return json.dumps(found, sort_keys=True)


def from_text(text: str | None) -> dict[str, dict]:
    """A checkpoint's ``sources`` member, or {} when it has none or it is not what seqfw writes (it is only
    ever used to name a package in an error message, so an unreadable one loses nothing)."""
    if not text or len(text) > LIMIT:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {g: v for g, v in data.items() if g in GROUPS and isinstance(v, dict)
            and all(isinstance(v.get(k), str) for k in ("name", "dist", "version"))}


def install_hint(group: str, option: str, found: dict[str, dict]) -> str | None:
    """"it came from ... : pip install ..." when the checkpoint says which package supplied ``option``."""
    where = found.get(group)
    if not where or where["name"] != option or where["dist"] == "seqfw":
        return None
    req = f"{where['dist']}=={where['version']}"
    return (f"{group} {option!r} came from the plugin package {where['dist']} {where['version']}, which is not "
            f"installed here: install it (pip install '{req}') and load the checkpoint again")
