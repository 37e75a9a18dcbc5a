"""The shape of a run's configuration: one schema per config group, and which keys each option has.

The groups' settings are declared once, by their owners: the optimizers' by the engine
(``seqfw.engine.optim``), the loop's by ``TrainSettings`` (``seqfw.runner.settings``), cells' and tasks' by their
plugin specs. The command line (``seqfw.cli.schema``) stores these very classes in Hydra's
ConfigStore, and ``keys_of`` is the one table of which keys a group's option accepts, used
both before Hydra composes and after.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from ..engine.optim import OPTIMIZERS
from ..plugins.registry import cell_registry, task_registry
from .settings import TrainSettings


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
class TrackingConf:
    name: str = "mlflow"  # mlflow | none
    uri: Optional[str] = None  # default: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db
    experiment: Optional[str] = None  # default: the task's name
    run_name: Optional[str] = None  # default: built from the choices and overrides


@dataclass
class SeqfwConf:
    cell: Any = MISSING
    topology: TopologyConf = MISSING
    backend: BackendConf = MISSING
    task: Any = MISSING
    optim: Any = MISSING
    tracking: TrackingConf = MISSING
    train: TrainSettings = field(default_factory=TrainSettings)
    seed: int = 0
    optimized_metric: Optional[str] = None  # default: the task's metric


CELL_SIZE = ("hidden_size", int, 64)  # every cell's own key besides its options: (name, type, default)
FIXED = {"": SeqfwConf, "train": TrainSettings, "topology": TopologyConf, "backend": BackendConf,
         "tracking": TrackingConf}  # the groups whose keys do not depend on the option chosen


def optim_schema(name: str) -> type:
    """The config node of ``optim=<name>``: ``name`` plus the fields of the optimizer's settings dataclass."""
    cls = OPTIMIZERS[name]
    return option_schema(name, cls.Settings, [], f"{cls.__name__}Conf")


def option_schema(name: str, config: type | None, extra: list, title: str | None = None) -> type:
    """The config node of ``cell=<name>`` or ``task=<name>``: ``name`` + ``extra`` + the spec's options."""
    hints = typing.get_type_hints(config) if config else {}  # real types, not the strings of `annotations`
    # ``name`` is always the registered name: a plugin may reuse another spec's config class
    own = [(f.name, hints[f.name], field(default=name) if f.name == "name" else f)
           for f in dataclasses.fields(config)] if config else []
    taken = {f[0] for f in own}
    fields = [(k, t, field(default=v)) for k, t, v in [("name", str, name)] + extra if k not in taken]
    return dataclasses.make_dataclass(title or f"{name.title().replace('_', '')}Conf", fields + own)


def keys_of(group: str, option: str | None) -> dict[str, Any] | None:
    """The keys ``group.<key>`` may set for ``option``, with their types (None: not known here).

    ``group`` "" is the top level."""
    if group in FIXED:
        return _typed(FIXED[group])
    if group == "optim":
        return _typed(optim_schema(option)) if option in OPTIMIZERS else None
    if group in ("cell", "task"):
        spec = (cell_registry() if group == "cell" else task_registry()).get(option or "")
        if spec is None:
            return None
        extra = [CELL_SIZE] if group == "cell" else []
        return _typed(option_schema(option, spec.config, extra))
    return None


def _typed(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def unknown_keys(cfg) -> list[str]:
    """Dotted keys of a composed ``cfg`` that no schema declares (Hydra lets ``+key=value`` add them)."""
    out = [k for k in cfg if k not in keys_of("", None) and k != "hydra"]
    for group in ("cell", "topology", "backend", "task", "optim", "tracking", "train"):
        node = cfg.get(group)
        keys = keys_of(group, node.get("name") if group in ("cell", "task", "optim") else None)
        if keys is not None:
            out += [f"{group}.{k}" for k in node if k not in keys]
    return out
