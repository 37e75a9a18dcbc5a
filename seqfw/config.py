"""Structured-config schemas and their registration in Hydra's ConfigStore.

Every key and type of a composed config is checked by these schemas before any
work starts. Cells and tasks get their config group entries from the plugin
registry (``cell/<name>``, ``task/<name>``), so a built-in cell and a
third-party one reach ``cell=<name>`` by the same route. Only ``__main__`` and
``compose()`` import this module: the engine never imports Hydra.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, OmegaConf

from .plugins import cell_registry, registry, task_registry

TOPOLOGY_KINDS = ("many_to_many", "one_to_many", "many_to_one", "one_to_one", "encoder_decoder")


@dataclass
class TopologyConf:
    name: str = "many_to_many"
    kind: Optional[str] = None  # the RNN type (many_to_many, many_to_one, ...); null = the task's own
    bidirectional: bool = False
    num_layers: int = 1
    dropout: float = 0.0  # between stacked layers, while training


@dataclass
class BackendConf:
    name: str = "numpy"  # numpy | cupy
    dtype: str = "float32"  # float32 | float64


@dataclass
class SGDConf:
    name: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0


@dataclass
class AdagradConf:
    name: str = "adagrad"
    lr: float = 0.05
    eps: float = 1e-10


@dataclass
class RMSPropConf:
    name: str = "rmsprop"
    lr: float = 0.005
    rho: float = 0.99
    eps: float = 1e-8


@dataclass
class AdamConf:
    name: str = "adam"
    lr: float = 0.005
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


OPTIM_SCHEMAS = {"sgd": SGDConf, "adagrad": AdagradConf, "rmsprop": RMSPropConf, "adam": AdamConf}


@dataclass
class TrackingConf:
    name: str = "mlflow"  # mlflow | none
    uri: Optional[str] = None  # default: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db
    experiment: Optional[str] = None  # default: the task's name
    run_name: Optional[str] = None  # default: built from the choices and overrides


@dataclass
class TrainConf:
    steps: int = 1500
    batch_size: int = 32
    eval_every: int = 250
    log_every: int = 25  # train/loss, grad_norm/* and throughput every N steps
    bptt: Optional[int] = None  # truncated BPTT window; null = full BPTT
    clip_norm: Optional[float] = 5.0  # global-norm clipping threshold; null = off
    clip_value: Optional[float] = None  # elementwise clipping; null = off
    grad_curves: int = 4  # how many times ‖∂L/∂a<t>‖ against t is measured over training
    progress: bool = True  # the progress bar (stderr)
    checkpoint_every: Optional[int] = None  # full training state every N steps (null = eval_every)
    resume: Optional[str] = None  # a checkpoint.npz of an interrupted run: continue it (same MLflow run)
    on_nonfinite: str = "stop"  # a NaN/inf loss or gradient: stop (the last good checkpoint stays) | skip the batch


@dataclass
class SeqfwConf:
    cell: Any = MISSING
    topology: TopologyConf = MISSING
    backend: BackendConf = MISSING
    task: Any = MISSING
    optim: Any = MISSING
    tracking: TrackingConf = MISSING
    train: TrainConf = field(default_factory=TrainConf)
    seed: int = 0
    optimized_metric: Optional[str] = None  # default: the task's metric


def unknown_keys(cfg) -> list[str]:
    """Dotted keys of ``cfg`` that no schema declares (Hydra lets ``+key=value`` add them)."""
    allowed: dict[str, set] = {
        "": {f.name for f in dataclasses.fields(SeqfwConf)},
        "topology": {f.name for f in dataclasses.fields(TopologyConf)},
        "backend": {f.name for f in dataclasses.fields(BackendConf)},
        "tracking": {f.name for f in dataclasses.fields(TrackingConf)},
        "train": {f.name for f in dataclasses.fields(TrainConf)},
    }
    for group, specs, extra in (("cell", cell_registry(), {"hidden_size"}), ("task", task_registry(), set())):
        spec = specs.get(cfg[group].name)
        if spec is not None:
            allowed[group] = {"name"} | extra | ({f.name for f in dataclasses.fields(spec.config)} if spec.config else set())
    schema = OPTIM_SCHEMAS.get(cfg.optim.name)
    if schema is not None:
        allowed["optim"] = {f.name for f in dataclasses.fields(schema)}
    out = [k for k in cfg if k not in allowed[""] and k != "hydra"]
    for group, keys in allowed.items():
        if group:
            out += [f"{group}.{k}" for k in cfg[group] if k not in keys]
    return out


def conf_dir() -> Path:
    """The shipped ``conf/`` tree (inside the installed package, or the checkout's top level)."""
    return _data_dir("conf")


def experiments_dir() -> Path:
    return _data_dir("experiments")


def _data_dir(name: str) -> Path:
    packaged = resources.files("seqfw") / name
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"seqfw's {name}/ directory is missing from the installation; reinstall seqfw")


def _node(name: str, config: type | None, extra: list) -> type:
    """A structured config for ``cell/<name>`` or ``task/<name>``: ``name`` + ``extra`` + the spec's options."""
    hints = typing.get_type_hints(config) if config else {}  # real types, not the strings of `annotations`
    # ``name`` is always the registered name: a plugin may reuse another spec's config class
    own = [(f.name, hints[f.name], field(default=name) if f.name == "name" else f)
           for f in dataclasses.fields(config)] if config else []
    taken = {f[0] for f in own}
    fields = [(k, t, field(default=v)) for k, t, v in [("name", str, name)] + extra if k not in taken]
    return dataclasses.make_dataclass(f"{name.title().replace('_', '')}Conf", fields + own)


def register_configs() -> None:
    """Store every schema, cell, task and experiment in the ConfigStore (before Hydra composes)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=SeqfwConf)
    for name, schema in OPTIM_SCHEMAS.items():
        cs.store(group="schema/optim", name=name, node=schema)
    for name, spec in cell_registry().items():
        cs.store(group="cell", name=name, node=_node(name, spec.config, [("hidden_size", int, 64)]))
    for name in registry("cell").broken:  # selectable, so that choosing it says why it is broken
        cs.store(group="cell", name=name, node=_node(name, None, [("hidden_size", int, 64)]))
    for name, spec in task_registry().items():
        # package _global_ so that the task can select its own default topology (`task=adding` ->
        # many_to_one); a topology given on the command line still wins.
        node = {"defaults": [{"override /topology": spec.cls.info.default_topology}, "_self_"],
                "task": OmegaConf.structured(_node(name, spec.config, []))}
        cs.store(group="task", name=name, node=node, package="_global_")
    for path in sorted(experiments_dir().glob("*.yaml")):
        cs.store(group="experiment", name=path.stem, node=OmegaConf.load(path), package="_global_")
    cs.store(group="hydra/help", name="seqfw", node={"app_name": "seqfw", "header": "", "footer": "",
                                                     "template": help_text()})


def group_options(broken_marked: bool = False) -> dict[str, list[str]]:
    """Every config group and its options, plugin cells and tasks included."""
    broken = [f"{name} (broken)" if broken_marked else name for name in registry("cell").broken]
    groups = {"cell": sorted(cell_registry()) + broken, "task": sorted(task_registry())}
    for group in ("topology", "backend", "optim", "tracking"):
        groups[group] = sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
    groups["experiment"] = sorted(p.stem for p in experiments_dir().glob("*.yaml"))
    return groups


def _fields(group: str, option: str | None) -> dict[str, Any] | None:
    """The keys ``group.<key>`` may set for ``option``, with their types (None: not known before composing)."""
    def typed(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    simple = {"train": TrainConf, "topology": TopologyConf, "backend": BackendConf, "tracking": TrackingConf}
    if group in simple:
        return typed(simple[group])
    if group == "optim":
        schema = OPTIM_SCHEMAS.get(option or "adam")
        return typed(schema) if schema else None
    if group in ("cell", "task"):
        spec = (cell_registry() if group == "cell" else task_registry()).get(option or "")
        if spec is None:
            return None
        own = typed(spec.config) if spec.config else {}
        return {"name": str, **({"hidden_size": int} if group == "cell" else {}), **own}
    return None


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


DEFAULT_CHOICES = {"cell": "lstm", "task": "ner", "optim": "adam"}  # conf/config.yaml's defaults


def check_overrides(argv: list[str]) -> str | None:
    """One clear message for the commonest command-line mistakes, before Hydra composes.

    Hydra's own messages for these are right but long ("Could not find 'cell/lstmm'" with the
    search path; "Could not override 'train.stepz'. To append to your config use +train.stepz",
    which seqfw then refuses). Anything this does not recognise is left to Hydra.
    """
    groups = group_options()
    args = [a for a in argv if not a.startswith("-") and "=" in a]
    choices = {k: v for k, _, v in (a.partition("=") for a in args) if k in groups}
    for group, value in choices.items():
        options = [v.strip() for v in value.split(",")] if "," in value else [value.strip()]
        for option in options:
            if option and option != "null" and option not in groups[group] and not option.startswith(("choice(", "range(", "glob(")):
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
        option = choices.get(group, DEFAULT_CHOICES.get(group))
        fields = _fields(group, option)
        name = rest.split(".")[0]
        if fields is None:
            continue
        owner = f"{group}={option}" if group in ("cell", "task", "optim") else group
        if name not in fields:
            close = difflib.get_close_matches(name, sorted(fields), n=1)
            return (f"unknown key {key}" + (f" (did you mean {group}.{close[0]}?)" if close else "") +
                    f": {owner} has {', '.join(sorted(fields))}. `python -m seqfw --cfg job` prints the whole config.")
        value = arg.partition("=")[2]
        if "." not in rest and not any(c in value for c in ",${}(") and (what := _bad_value(value, fields[name])):
            return f"{key} must be {what}, got {value!r} ({owner}); `python -m seqfw --cfg job` shows every key and its default."
    return None


def help_text() -> str:
    """``python -m seqfw --help``: every group and its options, plugins included, then the composed config."""
    groups = group_options(broken_marked=True)
    rows = "\n".join(f"  {g:<11} {', '.join(opts)}" for g, opts in groups.items())
    return (
        "seqfw: train recurrent sequence models (cell x topology x backend x task), tracked in MLflow.\n\n"
        "  python -m seqfw cell=lstm topology=bidir\n"
        "  python -m seqfw --multirun cell=rnn,gru,lstm topology=many_to_many,bidir\n"
        "  python -m seqfw --multirun experiment=teddy\n\n"
        f"== Groups (group=option) ==\n{rows}\n\n"
        "Any key below can be set as key=value (e.g. optim.lr=0.01 train.steps=500 cell.hidden_size=128);\n"
        "--cfg job prints the composed config, --hydra-help Hydra's own options.\n\n"
        "== Config ==\n$CONFIG"
    )
