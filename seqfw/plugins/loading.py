"""Loading plugins: the built-ins, then every installed entry point of group ``seqfw``, each contained.

What this module knows about each plugin is where it came from (the distribution and its
version: what a user would uninstall, and what a logged model must require), the plugin API
it declares, and, for one that could not be loaded, why. Nothing a plugin does here can stop
seqfw: a failed import, an entry-point name taken twice, an API mismatch are each one warning
naming the distribution, and the other plugins load.
"""
from __future__ import annotations

import re
import warnings
from typing import NamedTuple

import pluggy

from . import builtin, hookspecs
from .hookspecs import PLUGIN_API, PluginWarning

ENTRY_POINT_GROUP = "seqfw"
BUILTIN = "builtin"  # the built-ins' plugin (and entry point) name
API_ATTRIBUTE = "SEQFW_PLUGIN_API"  # what a plugin module sets to the plugin API it was written for


class Source(NamedTuple):
    """The distribution that supplies a plugin: what to install, what to uninstall."""

    dist: str | None  # None: registered in-process (tests, notebooks), not installed
    version: str | None

    def __str__(self) -> str:
        return f"{self.dist} {self.version}" if self.dist else "(not installed: registered in this process)"

    def requirement(self) -> str | None:
        """The pip requirement that reinstalls exactly this distribution."""
        return f"{self.dist}=={self.version}" if self.dist else None


class Plugins(NamedTuple):
    """A plugin manager with what is known about each plugin (by its registered name)."""

    pm: pluggy.PluginManager
    sources: dict  # plugin name -> Source
    failed: dict  # plugin name -> why it could not be loaded (its Source is in sources)
    api: dict  # plugin name -> the plugin API it declares (None: declares none)
    set_aside: list  # (plugin name, Source, why): a second distribution's entry point of a name already loaded


def seqfw_source() -> Source:
    from importlib.metadata import version  # imported when plugins load, not with `import seqfw`

    return Source("seqfw", version("seqfw"))


def load_plugins(load_entry_points: bool = True) -> Plugins:
    """A fresh manager with the hookspecs, the built-ins and (optionally) every installed plugin."""
    pm = pluggy.PluginManager("seqfw")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name=BUILTIN)
    plugins = Plugins(pm, {BUILTIN: seqfw_source()}, {}, {BUILTIN: PLUGIN_API}, [])
    if load_entry_points:
        for ep in _entry_points():
            _load(plugins, ep)
    return plugins


def _check_hooks(pm: pluggy.PluginManager, name: str) -> None:
    """Refuse a plugin with a hook implementation seqfw does not define (``seqfw_add_cell``, a typo): pluggy's
    own check covers every plugin at once, so a plugin failing it is unregistered before the error goes on."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        pm.unregister(name=name)
        raise


def _entry_points() -> list:
    """Every ``seqfw`` entry point except seqfw's own, in a stable order (by distribution, then name), so
    which of two clashing plugins wins does not depend on the order of ``sys.path``."""
    from importlib.metadata import entry_points

    own = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if not _is_seqfw(ep)]
    return sorted(own, key=lambda ep: (_source(ep).dist or "", ep.name))


def _is_seqfw(ep) -> bool:
    return ep.name == BUILTIN and ep.value == builtin.__name__


def _source(ep) -> Source:
    dist = getattr(ep, "dist", None)
    return Source(dist.name, dist.version) if dist is not None else Source(None, None)


def _load(plugins: Plugins, ep) -> None:
    """Import one entry point and register it, or record why not; never raises."""
    source = _source(ep)
    if ep.name in plugins.sources:
        taken = plugins.sources[ep.name]
        why = (f"seqfw plugin {ep.name!r} from {source} is set aside: {taken} already registered a plugin of that "
               f"name. Uninstall " + (f"{source.dist}." if taken.dist == "seqfw" else
                                       f"whichever of {source.dist} and {taken.dist} you do not want."))
        plugins.set_aside.append((ep.name, source, why))
        warn(why)
        return
    plugins.sources[ep.name] = source
    try:
        module = ep.load()
        if (first := plugins.pm.get_name(module)) is not None:  # a second entry point naming one module
            del plugins.sources[ep.name]
            why = (f"seqfw plugin {ep.name!r} from {source} is set aside: it is the module {ep.value} again, already "
                   f"registered as plugin {first!r}, whose cells and tasks are used. Ask the authors of "
                   f"{source.dist} to declare it once.")
            plugins.set_aside.append((ep.name, source, why))
            warn(why)
            return
        plugins.pm.register(module, name=ep.name)
        _check_hooks(plugins.pm, ep.name)
    except (Exception, SystemExit) as err:  # a third party's import error (or exit()) must not stop seqfw
        plugins.failed[ep.name] = f"failed to load ({type(err).__name__}: {first_line(err)})"
        warn(f"seqfw plugin {ep.name!r} ({ep.value}, from {source}) {plugins.failed[ep.name]} and is skipped. "
              f"Fix or uninstall {source.dist}; the other cells and tasks are unaffected.")
        return
    plugins.api[ep.name] = declared = getattr(module, API_ATTRIBUTE, None)
    if problem := api_problem(declared):
        warn(f"seqfw plugin {ep.name!r} from {source} {problem}")


def api_problem(declared) -> str | None:
    """Why a plugin declaring plugin API ``declared`` may not work with this seqfw, or None.

    Same major version, minor not newer: compatible (seqfw only ever adds within a major version).
    A plugin that declares nothing predates the declaration and is taken as written for 1.0."""
    if declared is None:
        return None
    ours = f"{seqfw_source()} implements plugin API {PLUGIN_API}"
    match = re.fullmatch(r"(\d+)\.(\d+)", declared) if isinstance(declared, str) else None
    if match is None:
        form = "a string" if not isinstance(declared, str) else "major.minor"
        return (f"declares {API_ATTRIBUTE} = {declared!r}, which is not a version like {PLUGIN_API!r} ({form}); "
                f"{ours}. Set it to the plugin API the plugin was written for, as a string.")
    major, minor = (int(g) for g in match.groups())
    our_major, our_minor = (int(p) for p in PLUGIN_API.split("."))
    if major != our_major:
        return (f"targets plugin API {declared}, but {ours}: it may not work. Install a release of it made "
                f"for plugin API {our_major}.x, or a seqfw implementing {major}.x.")
    if minor > our_minor:
        return (f"targets plugin API {declared}, newer than this seqfw ({ours}): what it uses from "
                f"{declared} is missing here. Upgrade seqfw.")
    return None


def first_line(err: BaseException, limit: int = 300) -> str:
    """The first line of ``err``'s message, at most ``limit`` characters: a warning stays one readable line
    whatever a plugin raises (even an exception whose ``str`` itself fails)."""
    try:
        text = str(err).strip()
    except Exception:
        text = ""
    line = text.splitlines()[0] if text else type(err).__name__
    return line if len(line) <= limit else line[:limit] + "..."


def warn(message: str) -> None:
    """One plugin problem, one line: a ``PluginWarning`` (the CLI prints it as ``warning: <message>``)."""
    warnings.warn(message, PluginWarning, stacklevel=3)
