"""How much memory a run will take, estimated from its config before anything large is allocated.

``check_memory`` runs in ``build`` after the task's data exists (the vocabulary and the sequence
lengths come from it) and before the network is stacked, its parameters drawn or a tracking run
opened. Nothing here builds more than one layer: the network's shape comes from a *probe*, the
task's model around a one-layer network, whose cells declare their parameter shapes without
allocating them. The peak is the parameters plus the larger of a training step and an evaluation:

- parameters, their gradients and the optimizer's slots (Adam 2, RMSProp and Adagrad 1, SGD 1
  with momentum): P × dtype × (2 + slots), P counted from the cells' ``param_specs`` for
  ``num_layers`` layers and both directions, plus the embeddings and the head;
- a training step: the activations kept for backpropagation through time, T × B × H × (2G + 1)
  per layer and direction for a cell of G gates (T the longest training sequence, or the
  ``train.bptt`` window), plus one layer's backward arrays, T × B × H × (3G + 2); the head's
  logits; the embeddings' outputs and gradients; the batch;
- an evaluation: the same forward caches over ``task.eval_chunk()`` validation examples, plus
  one layer's input projection, T × B × H × G;
- Python's own objects, per layer and per step of each layer (what dominates a deep, narrow net).

Measured on the built-in cells (in units of T × B × H floats, one layer: forward kept 2G, its peak
3G; backward 2G + 2 more, 4G - 1 for the reset-after GRU), the estimate stays within a factor of
two of the peak, and above it where the run is large (``tests/reliability/test_preflight.py`` checks it against tracemalloc).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from omegaconf import OmegaConf

from ..engine.backend import Backend, available_memory
from ..engine.layers import Dense, Embedding
from ..engine.recurrence import Stacked
from ..plugins.registry import make_cell, recurrent
from ..tasks import Task
from ..tasks.data import human_bytes
from .settings import ConfigError, TrainSettings

SLOTS = {"adam": 2, "rmsprop": 1, "adagrad": 1}  # optimizer state arrays per parameter (sgd: momentum ? 1 : 0)
STEP_OBJECTS = 1000  # bytes of Python objects (cache tuples, array headers) per step of each layer and direction
LAYER_OBJECTS = 4000  # bytes of Python objects per layer and direction (cells, dicts, parameter headers)
HEAD = 3  # logits-sized arrays alive at once: the logits, the softmax and its gradient
SHARE = 0.9  # a run may plan on this share of the memory available
PHASES = ("always", "train", "eval")


@dataclass
class Estimate:
    """Bytes per term, in three phases: ``always`` (parameters), ``train`` (a step) and ``eval`` (an
    evaluation pass), which never overlap. ``terms``: name -> (phase, bytes, what it is, the fix)."""

    terms: dict = field(default_factory=dict)

    def add(self, phase: str, name: str, nbytes: float, detail: str, fix: str) -> None:
        self.terms[name] = (phase, int(nbytes), detail, fix)

    def phase(self, name: str) -> int:
        return sum(b for p, b, _, _ in self.terms.values() if p == name)

    @property
    def total(self) -> int:
        """The peak: what is always there plus the larger of a training step and an evaluation."""
        return self.phase("always") + max(self.phase("train"), self.phase("eval"))

    @property
    def dominant(self) -> str:
        return max(self.terms, key=lambda k: self.terms[k][1])


@dataclass
class Shape:
    """What the estimate reads from the config and the task."""

    B: int  # the training batch
    H: int
    L: int  # layers
    itemsize: int
    T_x: int  # the longest input sequence
    T_y: int  # the longest decoder sequence (0: no decoder)
    window: int  # the steps a training pass keeps: T_x, or the train.bptt window


def estimate(cfg, task: Task, kind: str, train: TrainSettings) -> Estimate:
    """The memory a training step and an evaluation of this run need, term by term."""
    probe = _probe(cfg, task, kind)
    T_x, T_y = task.batch_steps()
    per_step = getattr(probe, "per_step", False)
    s = Shape(train.batch_size, cfg.cell.hidden_size, cfg.topology.num_layers, np.dtype(cfg.backend.dtype).itemsize,
              T_x, T_y, min(T_x, train.bptt) if train.bptt and per_step else T_x)
    est = Estimate()
    _parameters(est, cfg, probe, s)
    _recurrent(est, cfg, task, probe, kind, s, per_step)
    _outputs(est, probe, s, per_step)
    return est


def check_memory(cfg, task: Task, kind: str, train: TrainSettings, backend: Backend) -> Estimate:
    """Refuse a run whose estimate exceeds the memory available (the device's on CuPy), naming the largest
    part and its fix; returns the estimate. ``cfg``'s cell and topology are checked already."""
    est = estimate(cfg, task, kind, train)
    room = available_memory(backend.xp)
    if room is None or est.total <= SHARE * room:
        return est
    _, nbytes, detail, fix = est.terms[est.dominant]
    where = "free on the GPU" if backend.name != "numpy" else "available"
    raise ConfigError(
        f"this run needs about {human_bytes(est.total)} of memory and {human_bytes(room)} is {where}: the largest "
        f"part is {est.dominant}, {human_bytes(nbytes)} ({detail}). {fix}, or use a machine with more memory.")


def _cell_options(cfg) -> dict:
    node = OmegaConf.to_container(cfg.cell, resolve=True)
    return {k: v for k, v in node.items() if k not in ("name", "hidden_size")}


def _probe(cfg, task: Task, kind: str):
    """The task's model around a one-layer network of the configured cell: its shapes, nothing allocated."""
    options, topo = _cell_options(cfg), cfg.topology

    def one_layer(bidirectional: bool | None = None):
        return recurrent(cfg.cell.name, task.input_size, cfg.cell.hidden_size, 1,
                         topo.bidirectional if bidirectional is None else bidirectional, topo.dropout, **options)

    return task.build_model(one_layer(), kind, one_layer)


def _parts(model, cls) -> dict:
    """The model's attributes that are instances of ``cls`` (an Embedding, a Dense head, a Stacked network)."""
    return {name: part for name, part in vars(model).items() if isinstance(part, cls)}


def _cell_params(cfg, input_size: int) -> int:
    """Parameters of one cell of the configured kind reading ``input_size`` (shapes only)."""
    cell = make_cell(cfg.cell.name, input_size, cfg.cell.hidden_size, **_cell_options(cfg))
    return sum(int(np.prod(p.shape)) for p in cell.param_specs().values())


def _network(cfg, net: Stacked, L: int) -> tuple[int, int, int]:
    """(parameters of the whole ``L``-layer network, directions, gates): the probe's one layer, then
    ``L - 1`` layers reading the layer below (H or 2H wide)."""
    dirs, H, D = len(net.layers[0].cells), cfg.cell.hidden_size, net.input_size
    first = _cell_params(cfg, D)
    above = _cell_params(cfg, H * dirs) if L > 1 else 0
    gates = max(1, round(first / (H * (D + H + 1))))  # LSTM 4, GRU 3, simple GRU 2, RNN 1
    return dirs * (first + (L - 1) * above), dirs, gates


def _parameters(est: Estimate, cfg, probe, s: Shape) -> None:
    P = sum(_network(cfg, net, s.L)[0] for net in _parts(probe, Stacked).values())
    P += sum(e.vocab_size * e.dim for e in _parts(probe, Embedding).values())
    P += sum((d.in_size + 1) * d.out_size for d in _parts(probe, Dense).values())
    optim = cfg.optim.name
    copies = 2 + SLOTS.get(optim, 1 if cfg.optim.get("momentum") else 0)
    est.add("always", "the parameters, their gradients and the optimizer's state", P * s.itemsize * copies,
            f"{P:,} parameters x {copies} copies ({optim}) x {s.itemsize} bytes",
            "Lower cell.hidden_size or topology.num_layers (or task.embed_dim)")


def _recurrent(est: Estimate, cfg, task: Task, probe, kind: str, s: Shape, per_step: bool) -> None:
    """The networks' forward caches for a training batch (and one layer's backward), and for an evaluation
    (with its logits; a decoder decodes one step at a time)."""
    train = objects = 0
    chunk = task.eval_chunk()
    width = sum(d.out_size for d in _parts(probe, Dense).values())
    evaluation = (s.T_x if per_step else 1) * chunk * width * s.itemsize * HEAD
    shapes, eval_shapes = [], []
    for name, net in _parts(probe, Stacked).items():
        _, dirs, G = _network(cfg, net, s.L)
        decoder = name == "decoder" and s.T_y
        T = 1 if kind == "one_to_one" else (s.T_y if decoder else s.window)
        T_eval = 1 if kind == "one_to_one" or decoder else s.T_x
        unit = s.H * dirs * s.itemsize  # one (B, H) array per direction, per example and step
        train += T * s.B * unit * ((2 * G + 1) * s.L + 3 * G + 2)
        evaluation += T_eval * chunk * unit * ((2 * G + 1) * s.L + G)
        objects += (T + T_eval) * s.L * dirs * STEP_OBJECTS + s.L * dirs * LAYER_OBJECTS
        layers = f"{2 * G + 1} arrays x {s.L:,} layer{'s' if s.L > 1 else ''} x {dirs} direction{'s' if dirs > 1 else ''}"
        shapes.append(f"{T} steps x batch {s.B:,} x hidden {s.H:,} x {layers}")
        eval_shapes.append(f"{T_eval} steps x {chunk:,} validation examples x hidden {s.H:,} x {layers}")
    est.add("train", "the activations kept for backpropagation through time", train, "; ".join(shapes),
            "Lower train.batch_size, cell.hidden_size or topology.num_layers"
            + (", or set train.bptt to a window of a few dozen steps" if per_step and s.window == s.T_x else ""))
    est.add("eval", "an evaluation pass", evaluation, "; ".join(eval_shapes),
            "Lower cell.hidden_size or topology.num_layers (or the task's validation set)")
    est.add("always", "Python's objects for every step of every layer", objects,
            f"{s.L:,} layers, about {STEP_OBJECTS:,} bytes a step and {LAYER_OBJECTS:,} a layer",
            "Lower topology.num_layers")


def _outputs(est: Estimate, probe, s: Shape, per_step: bool) -> None:
    """The head's logits, the embeddings' outputs and gradients, and the batch itself."""
    positions = s.T_y or (s.window if per_step else 1)
    width = sum(d.out_size for d in _parts(probe, Dense).values())
    est.add("train", "the output layer's logits", positions * s.B * width * s.itemsize * HEAD,
            f"{positions} positions x batch {s.B:,} x {width:,} outputs", "Lower train.batch_size")
    embed = 0
    for name, e in _parts(probe, Embedding).items():
        T = s.T_y if name == "tgt_embed" and s.T_y else s.T_x
        embed += T * s.B * e.dim * s.itemsize * 3  # the lookup, its gradient, a temporary
        if e.vocab_size <= Embedding.ONE_HOT_MAX_VOCAB:  # the gradient as one GEMM with a one-hot matrix
            embed += e.vocab_size * T * s.B * s.itemsize
    est.add("train", "the embeddings' outputs and gradients", embed, f"{s.T_x} steps x batch {s.B:,}",
            "Lower train.batch_size (or task.embed_dim)")
    est.add("train", "the batch", (s.T_x + s.T_y) * s.B * 8 * 4, f"{s.T_x + s.T_y} steps x batch {s.B:,}",
            "Lower train.batch_size")
