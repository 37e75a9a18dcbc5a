"""Hand-written optimizers and gradient clipping, updating parameter trees in place.

Each optimizer keeps its state per flat parameter path (``seqfw.engine.tree.flatten``),
so any nesting of layers and directions works, and the state can be saved as
plain arrays. Update rules follow PyTorch's definitions (and its defaults for
rho, betas and eps), so a run can be compared step for step.

Each optimizer's settings and their defaults are declared once, in its ``Settings``
dataclass below; the configuration tree uses the very same classes (``optim=adam``),
and the settings check themselves when made, naming the argument that is wrong.
The learning rates are seqfw's defaults for its shipped tasks (PyTorch's Adam uses 1e-3).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from .backend import xp_of
from .errors import SettingError, check_number
from .tree import flatten


@dataclass
class SGDSettings:
    lr: float = 0.1
    momentum: float = 0.0  # 0: plain gradient descent

    def __post_init__(self):
        check_number("SGD", "lr", self.lr, 0.0, low_open=True)
        check_number("SGD", "momentum", self.momentum, 0.0, 1.0)


@dataclass
class AdagradSettings:
    lr: float = 0.05
    eps: float = 1e-10

    def __post_init__(self):
        check_number("Adagrad", "lr", self.lr, 0.0, low_open=True)
        check_number("Adagrad", "eps", self.eps, 0.0, low_open=True)


@dataclass
class RMSPropSettings:
    lr: float = 0.005
    rho: float = 0.99
    eps: float = 1e-8

    def __post_init__(self):
        check_number("RMSProp", "lr", self.lr, 0.0, low_open=True)
        # rho = 1 would never let a gradient into s: every step would divide by eps alone
        check_number("RMSProp", "rho", self.rho, 0.0, 1.0, high_open=True)
        check_number("RMSProp", "eps", self.eps, 0.0, low_open=True)


@dataclass
class AdamSettings:
    lr: float = 0.005
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        check_number("Adam", "lr", self.lr, 0.0, low_open=True)
        check_number("Adam", "beta1", self.beta1, 0.0, 1.0, high_open=True)
        check_number("Adam", "beta2", self.beta2, 0.0, 1.0, high_open=True)
        check_number("Adam", "eps", self.eps, 0.0, low_open=True)


class Optimizer:
    """Base: ``step(grads)`` applies one update to the tree given at construction.

    ``Optimizer(params, lr=..., ...)``: the keyword arguments are the fields of the class's
    ``Settings``, which supplies every default; ``opt.settings`` holds them, checked.
    """

    Settings: type
    # Settings that must stay nonzero and finite in the parameters' dtype: an eps that float32 rounds to
    # 0 divides 0 by 0 (NaN) at step 1 for every parameter whose gradient is 0 (an unused embedding row).
    POSITIVE = ("lr", "eps")

    def __init__(self, params, **options):
        known = {f.name for f in fields(self.Settings)}
        for name in options.keys() - known:
            raise SettingError(type(self).__name__, name, options[name],
                               f"is not an option (the options are {', '.join(sorted(known))})")
        self.settings = self.Settings(**options)
        self.params = flatten(params)
        self.state: dict[str, dict] = {k: {} for k in self.params}
        self.t = 0
        self._check_representable()

    def _check_representable(self) -> None:
        """``POSITIVE`` settings must stay nonzero and finite in the parameters' dtype."""
        dtypes = {np.dtype(p.dtype) for p in self.params.values() if np.issubdtype(p.dtype, np.floating)}
        for dtype in sorted(dtypes, key=lambda d: d.itemsize):  # the narrowest dtype decides
            info = np.finfo(dtype)
            for name in self.POSITIVE:
                value = getattr(self.settings, name, None)
                if value is not None and not info.tiny <= value <= info.max:
                    raise SettingError(type(self).__name__, name, value,
                                       f"must be between {info.tiny:.3g} and {info.max:.3g} to be a nonzero "
                                       f"finite {dtype.name} (the parameters' dtype)")

    @property
    def lr(self) -> float:
        return self.settings.lr

    def step(self, grads) -> None:
        flat = flatten(grads)
        missing = self.params.keys() - flat.keys()
        if missing:
            raise KeyError(f"gradients missing for parameters: {', '.join(sorted(missing))}")
        self.t += 1
        for name, p in self.params.items():
            self.update(p, flat[name], self.state[name])

    def update(self, p, g, state: dict) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """v ← μ v + g;  θ ← θ - η v   (μ = 0: plain gradient descent)."""

    Settings = SGDSettings

    def update(self, p, g, state):
        s = self.settings
        if s.momentum:
            v = state.get("v")
            if v is None:
                v = state["v"] = g.copy()
            else:
                v *= s.momentum
                v += g
            g = v
        p -= s.lr * g


class Adagrad(Optimizer):
    """G ← G + g²;  θ ← θ - η g / (√G + ε)."""

    Settings = AdagradSettings

    def update(self, p, g, state):
        s = self.settings
        G = state.setdefault("G", xp_of(p).zeros_like(p))
        G += g * g
        p -= s.lr * g / (xp_of(p).sqrt(G) + s.eps)


class RMSProp(Optimizer):
    """s ← ρ s + (1 - ρ) g²;  θ ← θ - η g / (√s + ε)."""

    Settings = RMSPropSettings

    def update(self, p, g, state):
        rho, lr, eps = self.settings.rho, self.settings.lr, self.settings.eps
        s = state.setdefault("s", xp_of(p).zeros_like(p))
        s *= rho
        s += (1 - rho) * g * g
        p -= lr * g / (xp_of(p).sqrt(s) + eps)


class Adam(Optimizer):
    """m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²;  θ ← θ - η m̂ / (√v̂ + ε), with bias-corrected m̂, v̂."""

    Settings = AdamSettings

    def update(self, p, g, state):
        xp, s = xp_of(p), self.settings
        m = state.setdefault("m", xp.zeros_like(p))
        v = state.setdefault("v", xp.zeros_like(p))
        m *= s.beta1
        m += (1 - s.beta1) * g
        v *= s.beta2
        v += (1 - s.beta2) * g * g
        c1, c2 = 1 - s.beta1**self.t, 1 - s.beta2**self.t
        p -= (s.lr / c1) * m / (xp.sqrt(v / c2) + s.eps)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam}


def make_optimizer(name: str, params, **options) -> Optimizer:
    """The optimizer called ``name`` (a key of ``OPTIMIZERS``) over ``params``, with ``options``."""
    if name not in OPTIMIZERS:
        raise SettingError("make_optimizer", "name", name, f"must be one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, **options)


def defaults(name: str) -> dict:
    """Every setting of optimizer ``name`` with its default."""
    return asdict(OPTIMIZERS[name].Settings())


def global_norm(grads) -> float:
    """‖g‖ over every leaf of the tree, as one vector (summed on the device: one transfer to the host)."""
    return math.sqrt(float(sum((g * g).sum() for g in flatten(grads).values())))


def clip_by_global_norm(grads, max_norm: float, norm: float | None = None) -> float:
    """If ‖g‖ > θ then g ← θ g / ‖g‖ (Pascanu et al. 2013), in place. Returns the pre-clip norm.

    ``norm``: ‖g‖ when the caller has it already."""
    max_norm = check_number("clip_by_global_norm", "max_norm", max_norm, 0.0, low_open=True)
    norm = global_norm(grads) if norm is None else norm
    if norm > max_norm:
        scale = max_norm / norm
        for g in flatten(grads).values():
            g *= scale
    return norm


def clip_by_value(grads, limit: float) -> None:
    """g ← clip(g, -limit, limit) elementwise, in place."""
    limit = check_number("clip_by_value", "limit", limit, 0.0, low_open=True)
    for g in flatten(grads).values():
        xp_of(g).clip(g, -limit, limit, out=g)
