"""Hand-written optimizers and gradient clipping, updating parameter trees in place.

Each optimizer keeps its state per flat parameter path (``seqfw.tree.flatten``),
so any nesting of layers and directions works, and the state can be saved as
plain arrays. Update rules follow PyTorch's definitions (and its defaults for
rho, betas and eps), so a run can be compared step for step.
"""
from __future__ import annotations

import math

from .backend import xp_of
from .tree import flatten


def _check(name: str, value, low: float, high: float = math.inf, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < low or value > high or (low_open and value == low):
        bound = f"{'>' if low_open else '>='} {low}" + ("" if high == math.inf else f" and <= {high}")
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return float(value)


class Optimizer:
    """Base: ``step(grads)`` applies one update to the tree given at construction."""

    def __init__(self, params, lr: float):
        self.params = flatten(params)
        self.lr = _check("optim.lr", lr, 0.0, low_open=True)
        self.state: dict[str, dict] = {k: {} for k in self.params}
        self.t = 0

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

    def __init__(self, params, lr: float = 0.1, momentum: float = 0.0):
        super().__init__(params, lr)
        self.momentum = _check("optim.momentum", momentum, 0.0, 1.0)

    def update(self, p, g, state):
        if self.momentum:
            v = state.get("v")
            if v is None:
                v = state["v"] = g.copy()
            else:
                v *= self.momentum
                v += g
            g = v
        p -= self.lr * g


class Adagrad(Optimizer):
    """G ← G + g²;  θ ← θ - η g / (√G + ε)."""

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-10):
        super().__init__(params, lr)
        self.eps = _check("optim.eps", eps, 0.0, low_open=True)

    def update(self, p, g, state):
        G = state.setdefault("G", xp_of(p).zeros_like(p))
        G += g * g
        p -= self.lr * g / (xp_of(p).sqrt(G) + self.eps)


class RMSProp(Optimizer):
    """s ← ρ s + (1 - ρ) g²;  θ ← θ - η g / (√s + ε)."""

    def __init__(self, params, lr: float = 0.01, rho: float = 0.99, eps: float = 1e-8):
        super().__init__(params, lr)
        self.rho = _check("optim.rho", rho, 0.0, 1.0)
        self.eps = _check("optim.eps", eps, 0.0, low_open=True)

    def update(self, p, g, state):
        s = state.setdefault("s", xp_of(p).zeros_like(p))
        s *= self.rho
        s += (1 - self.rho) * g * g
        p -= self.lr * g / (xp_of(p).sqrt(s) + self.eps)


class Adam(Optimizer):
    """m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²;  θ ← θ - η m̂ / (√v̂ + ε), with bias-corrected m̂, v̂."""

    def __init__(self, params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(params, lr)
        self.beta1 = _check("optim.beta1", beta1, 0.0, 1.0)
        self.beta2 = _check("optim.beta2", beta2, 0.0, 1.0)
        self.eps = _check("optim.eps", eps, 0.0, low_open=True)

    def update(self, p, g, state):
        xp = xp_of(p)
        m = state.setdefault("m", xp.zeros_like(p))
        v = state.setdefault("v", xp.zeros_like(p))
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        p -= (self.lr / c1) * m / (xp.sqrt(v / c2) + self.eps)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam}


def make_optimizer(name: str, params, **options) -> Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, **options)


def global_norm(grads) -> float:
    """‖g‖ over every leaf of the tree, as one vector (summed on the device: one transfer to the host)."""
    return math.sqrt(float(sum((g * g).sum() for g in flatten(grads).values())))


def clip_by_global_norm(grads, max_norm: float, norm: float | None = None) -> float:
    """If ‖g‖ > θ then g ← θ g / ‖g‖ (Pascanu et al. 2013), in place. Returns the pre-clip norm.

    ``norm``: ‖g‖ when the caller has it already."""
    max_norm = _check("clip max_norm", max_norm, 0.0, low_open=True)
    norm = global_norm(grads) if norm is None else norm
    if norm > max_norm:
        scale = max_norm / norm
        for g in flatten(grads).values():
            g *= scale
    return norm


def clip_by_value(grads, limit: float) -> None:
    """g ← clip(g, -limit, limit) elementwise, in place."""
    limit = _check("clip value", limit, 0.0, low_open=True)
    for g in flatten(grads).values():
        xp_of(g).clip(g, -limit, limit, out=g)
