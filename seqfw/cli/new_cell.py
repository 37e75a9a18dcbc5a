"""Write a new cell plugin package that installs and passes its own tests at once.

    python -m seqfw.new_cell NAME [--dir PATH] [--force]

writes ``seqfw-NAME/`` in the current directory (or PATH): ``pyproject.toml`` with the entry point
that makes ``cell=NAME`` exist, ``seqfw_NAME.py`` (a complete tanh RNN to edit, its options, the
hook), ``tests/test_NAME.py`` (seqfw's conformance kit, the step against its equations, a short
real run) and ``README.md``. The files are ``string.Template`` texts in ``seqfw/cli/scaffold/``.

Nothing is written unless everything is: the package is built in a temporary directory beside
the target and renamed into place at the end.
"""
from __future__ import annotations

import argparse
import errno
import keyword
import os
import re
import shlex
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path
from string import Template

from .._version import __version__
from ..engine.errors import SeqfwError
from ..plugins.hookspecs import PLUGIN_API
from ..plugins.registry import name_problem, plugins, registry
from . import plain_plugin_warnings
from .main import guarded

NAME_RULE = "a lower-case Python identifier: a letter, then letters, digits or underscores, not ending in '_'"
_NAME = re.compile(r"[a-z](?:[a-z0-9_]*[a-z0-9])?")  # the end rule keeps seqfw-NAME a valid distribution name
MAX_LENGTH = 64  # it names files (seqfw_NAME.py, tests/test_NAME.py): far from any file system's limit

# template -> the file it becomes, and what it is (for the summary); {name} is the cell's name
LAYOUT = {
    "pyproject.toml.tmpl": ("pyproject.toml", "the package, and the entry point that makes cell={name} exist"),
    "cell.py.tmpl": ("seqfw_{name}.py", "the cell ({cls}, a tanh RNN to make your own), its options, the hook"),
    "test_cell.py.tmpl": ("tests/test_{name}.py", "the conformance kit, one step against its equations, a real run"),
    "README.md.tmpl": ("README.md", "install, test, use, where to edit"),
}


class ScaffoldError(SeqfwError):
    """The package cannot be written as asked; the message says why and what to do instead."""


def camel(name: str) -> str:
    """``my_rnn`` -> ``MyRnn``: the stem of the generated class names."""
    return "".join(part.capitalize() for part in name.split("_"))


def _owner(name: str) -> str | None:
    """The seqfw plugin that already has ``name``, as a cell or as its own entry-point name; else None."""
    plugin = registry("cell").owners.get(name)
    if plugin is None and _distribution_of(name) is not None:
        plugin = name  # an entry point of that name registers no such cell, yet a second one would not load
    return plugin


def _suggestion(name: str) -> str | None:
    """The nearest free, valid name to a refused one (lower case, underscores for the rest), if any."""
    s = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    s = s.removeprefix("seqfw_")  # the package's name given for the cell's (seqfw-NAME)
    for candidate in (s, "my_" + s) if s[:1].isalpha() else ("my_" + s,):
        if len(candidate) <= MAX_LENGTH and _NAME.fullmatch(candidate) and not keyword.iskeyword(candidate) \
                and name_problem(candidate) is None and _owner(candidate) is None:
            return candidate
    return None


def _refuse_name(name: str, why: str, suggestion: str | None, otherwise: str = "choose another name") -> ScaffoldError:
    fix = f"use python -m seqfw.new_cell {suggestion}" if suggestion else otherwise
    return ScaffoldError(f"{name!r} cannot be a cell name: {why}. Instead, {fix}. Nothing was written.")


def check_name_form(name: str) -> str:
    """``name`` if it can name a cell, its module ``seqfw_NAME`` and its distribution, else ScaffoldError."""
    if "-" in name:
        raise _refuse_name(name, "a Python module name (seqfw_NAME) cannot hold a dash; use underscores",
                           _suggestion(name), f"choose a name that is {NAME_RULE}")
    if name != name.lower():
        raise _refuse_name(name, "cell names are lower case (cell=NAME is matched exactly)", _suggestion(name),
                           f"choose a name that is {NAME_RULE}")
    if not _NAME.fullmatch(name):
        raise _refuse_name(name, f"a cell name is {NAME_RULE}", _suggestion(name))
    if len(name) > MAX_LENGTH:
        raise _refuse_name(name, f"it is longer than {MAX_LENGTH} characters (it names files)", None,
                           "choose a shorter one")
    if keyword.iskeyword(name):
        raise _refuse_name(name, "it is a Python keyword", _suggestion(f"{name}_cell"))
    if problem := name_problem(name):  # e.g. null, true, nan: the command line reads a value there
        raise _refuse_name(name, problem, _suggestion(f"{name}_cell"))
    return name


def _distribution_of(plugin: str) -> tuple[str, str] | None:
    """(distribution, version) that supplies the seqfw plugin ``plugin``, if one does."""
    source = plugins().sources.get(plugin)
    return (source.dist, source.version) if source is not None and source.dist else None


def _same_dist(a: str, b: str) -> bool:
    """Distribution names equal after PEP 503 normalisation (``seqfw_x`` is ``seqfw-x``)."""
    def norm(s):
        return re.sub(r"[-_.]+", "-", s).lower()

    return norm(a) == norm(b)


def check_name_free(name: str, force: bool) -> None:
    """Refuse a name that an installed cell or seqfw plugin already has: the new one would never load.

    The one exception is a package this command wrote before and that is installed: with --force
    it may be written again in place (``pip install -e`` of it stays valid)."""
    plugin = _owner(name)
    if plugin is None:
        return
    dist = _distribution_of(plugin) or (f"seqfw's plugin {plugin!r}", "")
    source = " ".join(filter(None, dist))
    if _same_dist(dist[0], f"seqfw-{name}"):
        if force:
            return
        raise ScaffoldError(f"cell={name} is already installed, from {source}, the package this command writes "
                            f"for that name. To write it again, pass --force (its directory is replaced, the "
                            f"installation stays), or first pip uninstall seqfw-{name}. Nothing was written.")
    what = f"cell={name} already exists" if name in registry("cell").owners else \
        f"{name!r} is already a seqfw plugin's name"
    other = _suggestion(f"my_{name}")
    instead = f"e.g. python -m seqfw.new_cell {other}" if other else "one that is not listed by python -m seqfw.inventory"
    raise ScaffoldError(f"{what} (from {source}); a second one would be set aside when seqfw loads plugins. "
                        f"Choose another name, {instead}. Nothing was written.")


def check_target(parent: Path, name: str, force: bool) -> Path:
    """The directory to create, ``parent/seqfw-NAME``, once ``parent`` is usable and it may be written."""
    shown = shlex.quote(str(parent))
    if not parent.exists():
        raise ScaffoldError(f"--dir {shown} does not exist. Create it first (mkdir -p {shown}) or pass an "
                            "existing directory. Nothing was written.")
    if not parent.is_dir():
        raise ScaffoldError(f"--dir {shown} is not a directory. Pass the directory to write seqfw-{name}/ in. "
                            "Nothing was written.")
    target = parent / f"seqfw-{name}"
    if (target.exists() or target.is_symlink()) and not force:
        raise ScaffoldError(f"{shlex.quote(_shown(target))} already exists. Choose another NAME or --dir, remove it, "
                            "or pass --force to replace it (everything in it is deleted). Nothing was written.")
    return target


def render(name: str) -> dict[str, str]:
    """Every file of the package for cell ``name``: relative path -> text."""
    stem = camel(name)
    major, minor = (int(p) for p in re.findall(r"\d+", __version__)[:2])
    fields = {
        "name": name, "dist": f"seqfw-{name}", "module": f"seqfw_{name}", "cls": f"{stem}Cell",
        "options": f"{stem}Options", "test_class": f"Test{stem}Cell", "plugin_api": PLUGIN_API,
        # the seqfw it was generated for, up to the next minor release (0.x minors may break plugins)
        "seqfw_requirement": f"seqfw>={major}.{minor},<{major}.{minor + 1}" if major == 0
        else f"seqfw>={major}.{minor},<{major + 1}",
    }
    here = files("seqfw.cli.scaffold")
    return {dest.format(name=name): Template(here.joinpath(src).read_text(encoding="utf-8")).substitute(fields)
            for src, (dest, _) in LAYOUT.items()}


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_package(target: Path, texts: dict[str, str], force: bool) -> None:
    """Write ``texts`` under ``target`` all at once: built beside it, then renamed into place.

    On any failure the temporary directory is removed and a replaced ``target`` (--force) is put
    back, so the directory is either the whole new package or what it was before."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".new", dir=target.parent))
    trash = None
    try:
        for rel, text in texts.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's 0700 would outlive the rename
        if force and (target.exists() or target.is_symlink()):
            trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            target.rename(trash / "old")
        elif target.exists() or target.is_symlink():  # appeared since it was checked
            raise FileExistsError(errno.EEXIST, "it appeared meanwhile", str(target))
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if trash is not None:
            if (trash / "old").exists() or (trash / "old").is_symlink():
                (trash / "old").rename(target)
            shutil.rmtree(trash, ignore_errors=True)
        raise
    if trash is not None:
        shutil.rmtree(trash)


def _shown(path: Path) -> str:
    """``path`` as the user would type it: relative (./...) below the current directory, else absolute."""
    rel = os.path.relpath(path)
    return "./" + rel if not rel.startswith("..") else str(path.resolve())


def summary(target: Path, name: str) -> str:
    """What was written, then the next three commands."""
    cls = f"{camel(name)}Cell"
    rows = [(dest.format(name=name), what.format(name=name, cls=cls)) for dest, what in LAYOUT.values()]
    width = max(len(dest) for dest, _ in rows)
    where = _shown(target)
    lines = [f"wrote {where}/ (cell={name}, class {cls}):"]
    lines += [f"  {dest:<{width}}  {what}" for dest, what in rows]
    steps = [(f"pip install -e {shlex.quote(where + '[test]')}", "install it (this creates the entry point)"),
             (f"python -m pytest {shlex.quote(where + '/tests')}", "the conformance kit, the equations, a short run"),
             (f"python -m seqfw cell={name}", "train it")]
    width = max(len(cmd) for cmd, _ in steps)
    lines += ["next:"] + [f"  {cmd:<{width}}  # {why}" for cmd, why in steps]
    return "\n".join(lines)


def new_cell(args) -> int:
    """Check everything, write the package, say what was written."""
    name = check_name_form(args.name)
    check_name_free(name, args.force)
    target = check_target(Path(args.dir), name, args.force)
    texts = render(name)
    try:
        write_package(target, texts, args.force)
    except OSError as err:
        raise ScaffoldError(f"cannot write {shlex.quote(_shown(target))}/: "
                            f"{err.strerror or err}. Nothing was written. Check that the directory is writable "
                            "and has free space, or pass another --dir.") from None
    print(summary(target, name))
    return 0


def main(argv=None) -> int:
    plain_plugin_warnings()
    p = argparse.ArgumentParser(prog="python -m seqfw.new_cell", description=__doc__.split("\n\n")[0])
    p.add_argument("name", metavar="NAME", help=f"the cell's name (cell=NAME): {NAME_RULE}")
    p.add_argument("--dir", default=".", metavar="PATH",
                   help="where to write seqfw-NAME/ (an existing directory; default: the current one)")
    p.add_argument("--force", action="store_true",
                   help="replace seqfw-NAME/ if it exists (everything in it is deleted)")
    return guarded(new_cell, p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
