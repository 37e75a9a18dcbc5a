"""The configuration tree as Hydra sees it: the shipped conf/ folder, the ConfigStore, ``--help``.

Every schema stored here is declared by its owner (``seqfw.runner.config`` lists them); cells and
tasks get their config group entries from the plugin registry (``cell/<name>``,
``task/<name>``), so a built-in cell and a third-party one reach ``cell=<name>`` by the same
route. Only the CLI layer imports Hydra.
"""
from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from omegaconf import OmegaConf

from ..engine.errors import SeqfwError
from ..engine.optim import OPTIMIZERS
from ..plugins.registry import cell_registry, registry, source_of, task_registry
from ..runner.config import CELL_SIZE, SeqfwConf, optim_schema, option_schema


def conf_dir() -> Path:
    """The shipped ``conf/`` tree (inside the installed package, or the checkout's top level)."""
    return _data_dir("conf")


def experiments_dir() -> Path:
    return _data_dir("experiments")


def _data_dir(name: str) -> Path:
    packaged = resources.files("seqfw") / name
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise SeqfwError(f"seqfw's {name}/ directory is missing from the installation; reinstall seqfw")


def register_configs() -> None:
    """Store every schema, cell, task and experiment in the ConfigStore (before Hydra composes)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=SeqfwConf)
    for name in OPTIMIZERS:
        cs.store(group="schema/optim", name=name, node=optim_schema(name))
    for name, spec in cell_registry().items():
        cs.store(group="cell", name=name, node=option_schema(name, spec.config, [CELL_SIZE]))
    for name in registry("cell").broken:  # selectable, so that choosing it says why it is broken
        cs.store(group="cell", name=name, node=option_schema(name, None, [CELL_SIZE]))
    for name, spec in task_registry().items():
        # package _global_ so that the task can select its own default topology (`task=adding` ->
        # many_to_one); a topology given on the command line still wins.
        node = {"defaults": [{"override /topology": spec.cls.info.default_topology}, "_self_"],
                "task": OmegaConf.structured(option_schema(name, spec.config, []))}
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


def default_choices() -> dict[str, str]:
    """The option each group takes when the command line names none: conf/config.yaml's defaults list."""
    out = {}
    for entry in OmegaConf.load(conf_dir() / "config.yaml").defaults:
        if OmegaConf.is_dict(entry) and len(entry) == 1:
            (group, option), = entry.items()
            if "/" not in group and not group.startswith("override") and option is not None:
                out[group] = option
    return out


def cell_rows() -> list[str]:
    """One line per cell: its name, every key with its default (``cell.<key>=<default>``) and its package."""
    out = []
    for name, spec in sorted(cell_registry().items()):
        fields = dataclasses.fields(spec.config) if spec.config else []
        keys = [f"{CELL_SIZE[0]}={CELL_SIZE[2]}"] + [f"{f.name}={_shown(_default(f))}" for f in fields]
        out.append(f"  {name:<11} {' '.join(keys)}   [{source_of('cell', name)}]")
    return out + [f"  {name:<11} BROKEN (python -m seqfw.inventory says why)" for name in registry("cell").broken]


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else "???"


def _shown(value) -> str:
    """A default as it is written on the command line (``true``, ``null``, ``1.0``)."""
    return OmegaConf.to_yaml({"v": value}).strip()[3:] if not isinstance(value, str) else value


def help_text() -> str:
    """``python -m seqfw --help``: every group and its options, every cell's keys and defaults (plugins
    included), then the composed config."""
    groups = group_options(broken_marked=True)
    rows = "\n".join(f"  {g:<11} {', '.join(opts)}" for g, opts in groups.items())
    cells = "\n".join(cell_rows())
    return (
        "seqfw: train recurrent sequence models (cell x topology x backend x task), tracked in MLflow.\n\n"
        "  python -m seqfw cell=lstm topology=bidir\n"
        "  python -m seqfw --multirun cell=rnn,gru,lstm topology=many_to_many,bidir\n"
        "  python -m seqfw --multirun experiment=teddy\n\n"
        f"== Groups (group=option) ==\n{rows}\n\n"
        f"== Cells and their keys (cell=<name> cell.<key>=<value>; default shown) ==\n{cells}\n\n"
        "Any key below can be set as key=value (e.g. optim.lr=0.01 train.steps=500 cell.hidden_size=128);\n"
        "--cfg job prints the composed config, --hydra-help Hydra's own options.\n\n"
        "== Config ==\n$CONFIG"
    )
