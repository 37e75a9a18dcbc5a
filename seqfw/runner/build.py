"""Everything a run needs, built from a composed config, every setting checked on the way.

Components check their own arguments and raise ``SettingError`` naming the argument;
``keyed`` is the one adapter that turns that into the config key the user typed
(``optim.lr must be a number > 0.0, got -0.1``). Nothing here trains or tracks, so a bad
setting fails in seconds, before any store or run exists.
"""
from __future__ import annotations

import contextlib
import difflib
from typing import Any, NamedTuple

from omegaconf import OmegaConf

from ..engine.backend import Backend, get_backend
from ..engine.errors import SettingError, check_count
from ..engine.models import KINDS, MODELS
from ..engine.optim import Optimizer, make_optimizer
from ..plugins.registry import make_cell, make_task, recurrent
from ..tasks import Task
from .config import unknown_keys
from .memory import check_memory
from .settings import ConfigError, TrainSettings


class Setup(NamedTuple):
    backend: Backend
    task: Task
    kind: str  # the RNN type: topology.kind, else the task's first
    model: Any
    params: dict
    optimizer: Optimizer
    train: TrainSettings


@contextlib.contextmanager
def keyed(group: str):
    """Report a component's ``SettingError`` as one about the config key ``<group>.<argument>``
    (a top-level key for ``group`` "")."""
    try:
        yield
    except SettingError as err:
        raise ConfigError(err.keyed(f"{group}.{err.name}" if group else err.name)) from None


def options(node) -> dict:
    """A config group's keys except ``name``, as plain values."""
    return {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k != "name"}


def build(cfg) -> Setup:
    """Backend, task, model, params, optimizer and loop settings from ``cfg``; every setting checked here."""
    extra = unknown_keys(cfg)
    if extra:
        raise ConfigError(f"unknown config key{'s' if len(extra) > 1 else ''} {', '.join(extra)}: no schema declares "
                          "it (python -m seqfw --cfg job shows every key); remove the '+' override.")
    with keyed(""):
        check_count("run", "seed", cfg.seed, low=0)  # numpy's generators take no negative seed
    with keyed("train"):
        train = TrainSettings(**options(cfg.train))
    with keyed("backend"):
        be = get_backend(cfg.backend.name, cfg.backend.dtype, cfg.seed)
    with keyed("task"):
        task = make_task(cfg.task.name, **options(cfg.task))  # a task refuses data that would not fit
    check_metric(cfg, task, task.reported_metrics())
    kind = check_kind(cfg, task, train)
    make_net = network_factory(cfg, task.input_size)
    with keyed("topology"):  # before anything is stacked, drawn or tracked: sized from one layer
        check_count("stack", "num_layers", cfg.topology.num_layers)
        check_memory(cfg, task, kind, train, be)
    model = task.build_model(make_net(), kind, make_net)
    params = model.init_params(be.host_rng(cfg.seed), be.xp, be.dtype)
    with keyed("optim"):
        opt = make_optimizer(cfg.optim.name, params, **options(cfg.optim))
    if cfg.optimized_metric and not task.reported_metrics() and cfg.optimized_metric != task.info.metric:
        # a plugin's task that declares no metrics: ask it once, on the initial parameters, before any run
        check_metric(cfg, task, tuple(task.evaluate(model, params, be.xp)))
    return Setup(be, task, kind, model, params, opt, train)


def check_metric(cfg, task: Task, reported: tuple[str, ...]) -> None:
    """Refuse an ``optimized_metric`` that the task does not report (``reported``; () = not known yet)."""
    metric = cfg.optimized_metric
    if metric is None or not reported or metric in reported:
        return
    close = difflib.get_close_matches(metric, reported, n=1)
    raise ConfigError(f"optimized_metric={metric!r} is not a metric task={task.name} reports"
                      f"{f' (did you mean {close[0]}?)' if close else ''}; it reports {', '.join(reported)}. "
                      f"Set optimized_metric to one of these, or to null for the task's own ({task.info.metric}).")


def check_kind(cfg, task: Task, train: TrainSettings) -> str:
    """The RNN type the run uses, refused where it does not fit the task."""
    topo = cfg.topology
    kind = topo.kind or task.info.topologies[0]
    fits = ", ".join(task.info.topologies)
    if kind not in KINDS or kind not in task.info.topologies:
        raise ConfigError(
            f"topology.kind={kind!r} does not fit task={task.name}: it fits {fits} "
            f"(e.g. topology={task.info.default_topology}, or topology=bidir / deep, which take the task's kind)."
        )
    if topo.bidirectional and not task.info.bidirectional:
        raise ConfigError(f"task={task.name} must not read the future: a bidirectional network would see the "
                          f"answer. Use a unidirectional topology (topology.bidirectional=false); it fits {fits}.")
    if train.bptt is not None and not (kind in MODELS and MODELS[kind].per_step):
        raise ConfigError(f"train.bptt (truncated BPTT) needs an output at every step; topology.kind={kind} "
                          "has one at the end. Leave train.bptt=null.")
    return kind


def network_factory(cfg, input_size: int):
    """``make_net(bidirectional=None)``: a stack of the configured cell and topology.

    One cell is built first, so that a bad cell option is reported as ``cell.<key>`` and a bad
    depth or dropout as ``topology.<key>``."""
    topo, cell_options = cfg.topology, options(cfg.cell)
    hidden = cell_options.pop("hidden_size")
    with keyed("cell"):
        make_cell(cfg.cell.name, input_size, hidden, **cell_options)

    def make_net(bidirectional: bool | None = None):
        with keyed("topology"):
            return recurrent(cfg.cell.name, input_size, hidden, topo.num_layers,
                             topo.bidirectional if bidirectional is None else bidirectional, topo.dropout,
                             **cell_options)

    return make_net


def describe(cfg, task: Task, kind: str) -> str:
    """Two lines saying what the run trains: the task, then cell, topology, backend, optimizer, steps."""
    t = cfg.topology
    shape = (f"{'' if kind == t.name else kind + ', '}{t.num_layers} layer{'s' if t.num_layers > 1 else ''}"
             f"{', bidirectional' if t.bidirectional else ''}")
    return (f"{task.describe()}\ncell {cfg.cell.name} (H={cfg.cell.hidden_size}) · topology {t.name} ({shape}) · "
            f"backend {cfg.backend.name} {cfg.backend.dtype} · optim {cfg.optim.name} lr={cfg.optim.lr} · "
            f"{cfg.train.steps} steps of {cfg.train.batch_size}")


