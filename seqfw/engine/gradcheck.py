"""Finite-difference gradient checks of whole networks, shipped for seqfw's tests and for plugin authors.

The loss used throughout is a random projection of everything the network
emits, ``L = Σ y * R + Σ final_state * S``, so every output and every state
receives a distinct, non-zero gradient. Checks run in float64 with central
differences; the error of one array is ``‖analytic - numeric‖ / (‖analytic‖ + ‖numeric‖)``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .recurrence import Stacked, length_mask, truncated_bptt
from .tree import flatten, leaves_with_paths, tree_map


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """‖a - b‖ / (‖a‖ + ‖b‖), 0 when both vanish."""
    num = float(np.linalg.norm(np.ravel(a - b)))
    den = float(np.linalg.norm(np.ravel(a)) + np.linalg.norm(np.ravel(b)))
    return 0.0 if den == 0 else num / den


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``f()`` with respect to every entry of ``x`` (perturbed in place)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def _projections(rng, tree):
    return tree_map(lambda a: rng.standard_normal(a.shape), tree)


def _dot(tree_a, tree_b) -> float:
    return sum(float((a * b).sum()) for (_, a), (_, b) in zip(leaves_with_paths(tree_a), leaves_with_paths(tree_b)))


def network_gradients(net: Stacked, params, x, lengths=None, state0=None, bptt: int | None = None,
                      seed: int = 0, noise=None, train: bool = False):
    """Analytic and numerical gradients of the random-projection loss of ``net``.

    With ``bptt=k`` the analytic side is truncated BPTT and the numerical side
    differentiates the same objective: each window's loss with its carried
    initial state held fixed (the state is a value, not a function of the
    parameters, across a window boundary). Returns ``{path: (analytic, numeric)}``
    over ``params.*``, ``x`` and ``state0.*``.
    """
    # Long on purpose: the analytic pass (window) and the numerical objective must share R, S and the
    # carried states exactly, which the closures below do; split apart they would need a state object.
    T, B, _ = x.shape
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((T, B, net.output_size))
    state0 = state0 if state0 is not None else net.initial_state(B, np, x.dtype)
    S = _projections(rng, state0)
    k = bptt or T
    mask = length_mask(lengths, T)
    if mask is not None:
        R = R * mask  # padded outputs are zero by construction; keep the loss free of them
    carried: dict[str, object] = {"states": {}}
    dx_all = np.zeros_like(x)

    def window(sl, lw, state, with_grad=True):
        y, finals, cache = net.forward(params, x[sl], lw, state, train=train, noise=noise)
        last = sl.stop >= T
        loss = float((y * R[sl]).sum()) + (_dot(finals, S) if last else 0.0)
        if not with_grad:
            return loss, finals
        dx, ds0, grads, _ = net.backward(params, R[sl], S if last else None, cache)
        dx_all[sl] = dx
        if sl.start == 0:
            carried["dstate0"] = ds0
        return loss, grads, finals

    def step(sl, lw, state):
        carried["states"][sl.start] = state
        return window(sl, lw, state)

    _, grads, _ = truncated_bptt(step, T, k, lengths, state0)
    dstate0, fixed = carried["dstate0"], carried["states"]

    def objective():
        total = 0.0
        for start in range(0, T, k):
            sl = slice(start, min(start + k, T))
            lw = None if lengths is None else np.clip(lengths - start, 0, sl.stop - start)
            if lw is not None and lw.max() == 0:
                continue
            init = state0 if start == 0 else fixed[start]
            total += window(sl, lw, init, with_grad=False)[0]
        return total

    out = {}
    for path, p in flatten(params).items():
        out[f"params.{path}"] = (flatten(grads)[path], numerical_grad(objective, p))
    out["x"] = (dx_all, numerical_grad(objective, x))
    for path, s in flatten(state0).items():
        out[f"state0.{path}"] = (flatten(dstate0)[path], numerical_grad(objective, s))
    return out


def assert_gradients_close(results: dict, tol: float = 1e-6) -> float:
    """Fail naming the first array whose analytic gradient disagrees, and by how much. Returns the max error."""
    worst = 0.0
    for name, (analytic, numeric) in results.items():
        err = rel_error(np.asarray(analytic), numeric)
        if not err <= tol:
            i = int(np.argmax(np.abs(analytic - numeric)))
            raise AssertionError(
                f"gradient of {name} is wrong: relative error {err:.3e} > {tol:.0e}; worst entry "
                f"#{i}: analytic {np.ravel(analytic)[i]:.6e} vs numeric {np.ravel(numeric)[i]:.6e}"
            )
        worst = max(worst, err)
    return worst
