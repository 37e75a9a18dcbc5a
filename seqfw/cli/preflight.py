"""Checks of the command line made before Hydra composes, each with one clear message.

Unknown options and keys (with did-you-mean) and values of the wrong type, read from the same
schemas the config tree uses (``seqfw.runner.config.keys_of``); a group every run needs removed
(``cell=null``, ``~cell``); ``${...}`` interpolations that cannot resolve (an unknown key or
resolver, an unset environment variable); which sweeper/launcher plugins seqfw documents, and
that the chosen one is installed; and that Hydra's output directory can be created (Hydra
reports an unwritable one with a traceback). Hydra's own messages for all of these are
tracebacks. ``check_resolvable`` is the one check made after composing: any interpolation of the
composed config that still fails, before the job reads it.

Hydra reports a missing plugin as "Could not load 'hydra/launcher/...'", which does
not say what to install. Before composing, ``missing_plugin`` reads the command line
(and the defaults of a selected ``experiment=``) for the options below and names the
extra that provides them.
"""
from __future__ import annotations

import difflib
import importlib.util
import os
import re
import typing
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..plugins.registry import registry, unavailable
from ..runner.config import keys_of
from .schema import default_choices, group_options

# (group, option) -> (module the option comes from, what to install)
PLUGINS = {
    ("hydra/sweeper", "optuna"): ("hydra_plugins.hydra_optuna_sweeper", "seqfw[optuna]"),
    ("hydra/launcher", "joblib"): ("hydra_plugins.hydra_joblib_launcher", "seqfw[sweep]"),
    ("hydra/launcher", "slurm"): ("hydra_plugins.hydra_submitit_launcher", "seqfw[slurm]"),
    ("hydra/launcher", "submitit_slurm"): ("hydra_plugins.hydra_submitit_launcher", "seqfw[slurm]"),
    ("hydra/launcher", "submitit_local"): ("hydra_plugins.hydra_submitit_launcher", "seqfw[slurm]"),
    ("hydra/launcher", "ray"): ("hydra_plugins.hydra_ray_launcher", "seqfw[ray]"),
    ("hydra/launcher", "ray_cluster"): ("hydra_plugins.hydra_ray_launcher", "seqfw[ray]"),
    ("hydra/launcher", "ray_aws"): ("hydra_plugins.hydra_ray_launcher", "seqfw[ray]"),
}

_OVERRIDE = re.compile(r"^\s*-\s*override\s+/?(hydra/(?:sweeper|launcher))\s*:\s*(\w+)\s*$")


def requested(argv: list[str], experiments: Path) -> list[tuple[str, str, str]]:
    """(group, option, where) for every sweeper/launcher option the command line selects."""
    found = []
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key in ("hydra/sweeper", "hydra/launcher"):
            found.append((key, value, "the command line"))
        elif key == "experiment" and value:
            path = experiments / f"{value}.yaml"
            if path.is_file():
                for line in path.read_text(encoding="utf-8").splitlines():
                    if m := _OVERRIDE.match(line):
                        found.append((m.group(1), m.group(2), f"experiment={value}"))
    return found


def missing_plugin(argv: list[str], experiments: Path) -> str | None:
    """A one-paragraph error if a selected sweeper or launcher's Hydra plugin is not installed."""
    for group, option, where in requested(argv, experiments):
        module, extra = PLUGINS.get((group, option), (None, None))
        if module and not _has(module):
            return (f"{group}={option} (from {where}) needs the Hydra plugin {module.split('.')[-1].replace('_', '-')}, "
                    f"which is not installed. Install it with: pip install '{extra}' "
                    f"(docs/sweeps.md lists the sweepers and launchers seqfw supports and their pinned versions).")
    return None


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def output_dir_problem(argv: list[str], cwd: Path | None = None) -> str | None:
    """A one-paragraph error if Hydra's run (or sweep) directory cannot be created."""
    multirun = any(a in ("-m", "--multirun") for a in argv)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = [a.partition("=")[2] for a in argv if a.partition("=")[0] == key]
    target = Path(given[-1].split("${")[0] or ".") if given else Path("multirun" if multirun else "outputs")
    target = (cwd or Path.cwd()) / target.expanduser()
    parent = target
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return None
    problem = "is a file, not a directory" if parent.exists() and not parent.is_dir() else "is not writable"
    return (f"cannot create the output directory {target}: {parent} {problem}. Run from a directory you "
            f"can write to, or set {key}=/a/writable/path (runs also write ./mlflow.db unless tracking.uri "
            "says otherwise).")


def _bad_value(value: str, kind: Any) -> str | None:
    """What ``value`` should have been, if it cannot be a ``kind`` (int, float, bool, Optional of these)."""
    args = typing.get_args(kind)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), kind) if args else kind
    text = value.strip()
    if optional and text.lower() in ("null", "none", "~"):
        return None
    checks = {int: (lambda v: int(v), "a whole number"), float: (lambda v: float(v), "a number"),
              bool: (lambda v: {"true": 1, "false": 0}[v.lower()], "true or false")}
    if base not in checks:
        return None
    convert, what = checks[base]
    try:
        convert(text)
    except (ValueError, KeyError):
        return what + (" or null" if optional else "")
    return None


def check_overrides(argv: list[str]) -> str | None:
    """One clear message for the commonest command-line mistakes, before Hydra composes.

    Hydra's own messages for these are right but long ("Could not find 'cell/lstmm'" with the
    search path; "Could not override 'train.stepz'. To append to your config use +train.stepz",
    which seqfw then refuses). Anything this does not recognise is left to Hydra.
    """
    groups, defaults = group_options(), default_choices()
    args = [a for a in argv if not a.startswith("-") and "=" in a]
    choices = {k: v for k, _, v in (a.partition("=") for a in args) if k in groups}
    if problem := removed_group(argv, groups, defaults) or bad_interpolation(args, choices, defaults):
        return problem
    for group, value in choices.items():
        for option in swept_options(value):
            if group in ("cell", "task") and (option in registry(group).broken or option in registry(group).failed):
                return unavailable(group, option)  # a plugin set aside: say why, before anything is written
            if option and option != "null" and option not in groups[group]:
                close = difflib.get_close_matches(option, groups[group], n=1)
                return (f"unknown {group} {option!r}" + (f" (did you mean {close[0]}?)" if close else "") +
                        f"; choose one of: {', '.join(groups[group])}. `python -m seqfw --help` lists every group.")
    experiment = choices.get("experiment") not in (None, "null")
    for arg in args:
        key = arg.partition("=")[0]
        if "." not in key or key.startswith(("+", "~", "hydra.")):
            continue
        group, _, rest = key.partition(".")
        if group in ("cell", "task", "optim") and (experiment or "," in choices.get(group, "")) and group not in choices:
            continue  # an experiment (or a sweep over the group) may choose another option: leave it to Hydra
        chosen = choices.get(group, defaults.get(group))
        swept = (swept_options(chosen) or [None]) if chosen else [chosen]
        for option in swept:  # a sweep over the group: the key must exist in every option it runs
            if problem := _key_problem_in(arg, group, option, rest, chosen if len(swept) > 1 else None):
                return problem
    return None


def swept_options(value: str) -> list[str]:
    """The options a group's value selects: ``a,b`` and ``choice(a,b)`` list them; ``range(...)``,
    ``glob(...)`` and other sweep functions are Hydra's to expand (none are returned)."""
    value = value.strip()
    if match := re.fullmatch(r"choice\((.*)\)", value, re.S):
        value = match.group(1)
    elif re.match(r"\w+\(", value):
        return []
    return [v.strip() for v in value.split(",")]


def _key_problem_in(arg: str, group: str, option: str, rest: str, sweep: str | None) -> str | None:
    """An unknown key, or a value of the wrong type, for ``group=option`` (one option of ``sweep``, if any)."""
    key, _, value = arg.partition("=")
    fields = keys_of(group, option)
    name = rest.split(".")[0]
    if fields is None:
        return None
    owner = f"{group}={option}" if group in ("cell", "task", "optim") else group
    if name not in fields:
        if sweep:
            return (f"{key} is not a key of {owner}, one of the options this sweep runs ({group}={sweep}): its "
                    f"job would be refused once the sweep is under way. {owner} has {', '.join(sorted(fields))}. "
                    f"Sweep those options separately, each with its own keys.")
        close = difflib.get_close_matches(name, sorted(fields), n=1)
        return (f"unknown key {key}" + (f" (did you mean {group}.{close[0]}?)" if close else "") +
                f": {owner} has {', '.join(sorted(fields))}. `python -m seqfw --cfg job` prints the whole config.")
    if "." not in rest and not any(c in value for c in ",${}(") and (what := _bad_value(value, fields[name])):
        return f"{key} must be {what}, got {value!r} ({owner}); `python -m seqfw --cfg job` shows every key and its default."
    return None


NULLS = ("", "null")  # what Hydra's override grammar reads as no option (null in any case)


def removed_group(argv: list[str], groups: dict, defaults: dict) -> str | None:
    """``cell=null``, ``cell=`` or ``~cell``: a group every run needs (one with a default choice), removed.

    Hydra reports these as "Config group override must be a string or a list. Got NoneType" or a key
    "not in struct" later, both with a traceback."""
    for arg in argv:
        if arg.startswith(("-", "+")):
            continue
        key, _, value = arg.partition("=")
        group = key.lstrip("~")
        if group not in defaults:
            continue
        options = [v.strip() for v in value.split(",")]
        if key.startswith("~") or any(o.lower() in NULLS and o not in groups.get(group, ()) for o in options):
            return (f"{group} is required: every run needs one {group} ({arg!r} removes it). Choose one of: "
                    f"{', '.join(groups.get(group, []))} (the default is {group}={defaults[group]}, which "
                    f"leaving {group} out selects). `python -m seqfw --help` lists every group.")
    return None


_INTERPOLATION = re.compile(r"\$\{([^${}]*)\}")  # an innermost ${...}
_RESOLVER = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*:(.*)$", re.DOTALL)


def bad_interpolation(args: list[str], choices: dict, defaults: dict) -> str | None:
    """A ``${...}`` in an override that cannot resolve: an unknown key, an unknown resolver, or
    ``${oc.env:VAR}`` with VAR unset and no default. What cannot be judged before composing is left
    to ``check_resolvable``."""
    from hydra.core.utils import setup_globals

    setup_globals()  # Hydra's own resolvers (now, hydra, python_version), registered as Hydra does
    added = {a.lstrip("+").partition("=")[0].split(".")[0] for a in args if a.startswith("+")}
    for arg in args:
        key, _, value = arg.partition("=")
        for body in _INTERPOLATION.findall(value):
            if _RESOLVER.match(body):
                problem = _resolver_problem(body)
            elif body.strip().startswith("."):
                problem = _relative(key.lstrip("+~"), body.strip())
            else:
                problem = _key_problem(body.strip(), added, choices, defaults)
            if problem:
                return (f"{key.lstrip('+~')}={value} cannot be resolved: {problem}. Fix the ${{...}} (a config key "
                        "like ${train.steps}, or ${oc.env:VAR,default}), or give the value itself; "
                        "`python -m seqfw --cfg job` prints every key.")
    return None


def _resolver_problem(body: str) -> str | None:
    name, args = _RESOLVER.match(body).groups()
    if not OmegaConf.has_resolver(name):
        return f"there is no resolver {name!r} (there are oc.env, oc.select, oc.decode, now, hydra, ...)"
    if name == "oc.env" and "," not in args and args.strip() not in os.environ:
        return (f"the environment variable {args.strip()} is not set; set it, or give a default: "
                f"${{oc.env:{args.strip()},DEFAULT}}")
    return None


def _relative(key: str, path: str) -> str:
    """A relative key (``${.steps}``): Hydra also resolves every override as a string of its own list,
    where no relative key exists, so it always fails; name the absolute key it meant."""
    up = len(path) - len(path.lstrip("."))
    parent = key.split(".")[:-up] if up <= key.count(".") + 1 else []
    whole = ".".join(parent + [path.lstrip(".")])
    return f"a relative key (${{{path}}}) cannot be used on the command line; write the whole key, ${{{whole}}}"


def _key_problem(path: str, added: set, choices: dict, defaults: dict) -> str | None:
    """Whether the absolute key ``path`` exists in the config the command line composes (as far as the
    schemas tell before composing)."""
    if not path:
        return None
    top, _, rest = path.partition(".")
    known = set(keys_of("", None)) | {"hydra"} | added
    if top not in known:
        close = difflib.get_close_matches(top, sorted(known), n=1)
        return f"the config has no key {top!r}" + (f" (did you mean {close[0]}?)" if close else "")
    if not rest or top in ("hydra", "seed", "optimized_metric") or top in added:
        return None
    if top in ("cell", "task", "optim") and (choices.get("experiment") not in (None, "null") or "," in choices.get(top, "")):
        return None  # an experiment (or a sweep) may choose another option
    fields = keys_of(top, choices.get(top, defaults.get(top)))
    name = rest.split(".")[0]
    if fields is not None and name not in fields:
        close = difflib.get_close_matches(name, sorted(fields), n=1)
        return f"the config has no key {top}.{name}" + (f" (did you mean {top}.{close[0]}?)" if close else "")
    return None


def check_resolvable(cfg) -> None:
    """After composing, before the job reads ``cfg``: refuse the first interpolation that still fails."""
    from ..runner.settings import ConfigError

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "a key"
        reason = str(getattr(err, "msg", None) or err).splitlines()[0]
        raise ConfigError(f"{key} cannot be resolved: {reason}. Fix the ${{...}} interpolation that sets it (a config "
                          "key like ${train.steps}, or ${oc.env:VAR,default}), or give the value itself; "
                          "`python -m seqfw --cfg job` prints every key.") from None


# flags whose next argument is their value, not an override
VALUED = {"--cfg", "-c", "--info", "-i", "--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd",
          "--package", "-p", "--experimental-rerun", "--shell-completion"}


def refused_flag(argv: list[str]) -> str | None:
    """Hydra's ``--experimental-rerun`` unpickles the file it is given: a config file must never run code."""
    if any(a == "--experimental-rerun" or a.startswith("--experimental-rerun=") for a in argv):
        return ("--experimental-rerun loads a pickled config, and unpickling a file can run any code in it, so "
                "seqfw refuses it. To run a job again, give its overrides on the command line: they are in its "
                "output directory, .hydra/overrides.yaml.")
    return None


def grammar_problem(argv: list[str]) -> str | None:
    """An override Hydra cannot parse, a sweep without --multirun, or a sweep over where runs are stored:
    said before any directory is made (Hydra would say it after, with exit status 1)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    overrides = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] not in VALUED)]
    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed += parser.parse_overrides([text])
        except HydraException as err:
            reason = str(err).splitlines()[0].split("'")[0].strip() or "not key=value"
            return (f"cannot read the override {text!r} ({reason}): write key=value, with no spaces around '=', "
                    "and quote a value with spaces or other characters the shell or Hydra would split, e.g. "
                    "'tracking.run_name=\"my run\"' (python -m seqfw --help shows the syntax).")
    sweeps = [o for o in parsed if o.is_sweep_override()]
    multirun = any(a in ("-m", "--multirun") for a in argv)
    if sweeps and not multirun:
        return (f"{sweeps[0].input_line} is a sweep (several values), which needs --multirun: python -m seqfw "
                f"--multirun {' '.join(argv)}. For one run, give one value.")
    stored = [o for o in sweeps if o.get_key_element().lstrip("+~") in ("tracking", "tracking.name", "tracking.uri")]
    if stored:
        return (f"{stored[0].input_line}: a sweep's runs are kept in one store, with its parent run; sweep over "
                "where runs go is not possible. Run one sweep per store (tracking.uri=... each time).")
    return None
