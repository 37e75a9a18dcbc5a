"""Finite-difference gradient checks of whole networks, shipped for seqfw's tests and for plugin authors.

The loss used throughout is a random projection of everything the network
emits, ``L = Σ y * R + Σ final_state * S``, so every output and every state
receives a distinct, non-zero gradient. Checks run in float64 with central
differences; the error of one array is ``‖analytic - numeric‖ / (‖analytic‖ + ‖numeric‖)``.

A failure lists every wrong array, not only the first: which arrays are wrong (the weights
only? the inputs and initial state too?) is itself the clue to the broken term. The worst
entry is given as a multi-index and, for a fused parameter that declares its gate blocks
(``Param(..., blocks=...)``, collected by ``param_blocks``), as a block and a column of it.
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


def param_blocks(net: Stacked) -> dict[str, tuple[str, ...]]:
    """``{"params.layers.0.fwd.W_x": ("i", "f", "g", "o"), ...}``: the declared gate blocks of every
    fused parameter of ``net``, keyed like ``network_gradients``' results, for ``assert_gradients_close``."""
    out = {}
    for i, layer in enumerate(net.layers):
        for direction, cell in layer.cells.items():
            for name, spec in cell.param_specs().items():
                if getattr(spec, "blocks", None):
                    out[f"params.layers.{i}.{direction}.{name}"] = spec.blocks
    return out


def _where(index: tuple, shape: tuple, names: tuple[str, ...] | None) -> str:
    """``[2, 9]``, and with blocks `` (block 'a', column 2 of it)``: a flat index into a fused matrix
    says nothing to the author, the gate and the column within it point at one line of the backward."""
    text = "[" + ", ".join(str(int(i)) for i in index) + "]"
    if names and shape:
        width = shape[-1] // len(names)
        text += f" (block {names[index[-1] // width]!r}, column {index[-1] % width} of it)"
    return text


def _wrong_blocks(analytic, numeric, names, tol: float) -> str:
    """The blocks whose own relative error exceeds ``tol``, worst first, with their errors. Through
    time a wrong gate term leaks into every block, but its own block stays the worst."""
    width = analytic.shape[-1] // len(names)
    errors = [(rel_error(analytic[..., j * width:(j + 1) * width], numeric[..., j * width:(j + 1) * width]), n)
              for j, n in enumerate(names)]
    wrong = sorted(((e, n) for e, n in errors if not e <= tol), key=lambda en: -np.nan_to_num(en[0], nan=np.inf))
    return ", ".join(f"{n!r} {e:.1e}" for e, n in wrong)


def gradient_errors(results: dict, tol: float = 1e-6, blocks: dict | None = None) -> tuple[list[str], float]:
    """One line per array whose analytic gradient disagrees with the numerical one, and the largest error.

    Each line gives the relative error against ``tol`` and the worst entry as a multi-index with its
    analytic and numeric values; ``blocks`` (``{path: block names}``, see ``param_blocks``) adds the
    gate block the entry falls in and, for several blocks, those over ``tol`` with their errors, worst first.
    """
    lines, worst = [], 0.0
    for name, (analytic, numeric) in results.items():
        analytic, numeric = np.asarray(analytic), np.asarray(numeric)
        err = rel_error(analytic, numeric)
        worst = max(worst, err) if not np.isnan(err) else np.inf  # a NaN must not vanish in max()
        if err <= tol:
            continue
        index = np.unravel_index(int(np.argmax(np.abs(analytic - numeric))), numeric.shape)
        names = (blocks or {}).get(name)
        line = (f"gradient of {name} is wrong: relative error {err:.3e} > {tol:.0e}; worst entry "
                f"{_where(index, numeric.shape, names)}: analytic {analytic[index]:.6e} "
                f"vs numeric {numeric[index]:.6e}")
        if names and len(names) > 1:
            line += "; blocks over tolerance, worst first: " + _wrong_blocks(analytic, numeric, names, tol)
        lines.append(line)
    return lines, worst


def assert_gradients_close(results: dict, tol: float = 1e-6, blocks: dict | None = None) -> float:
    """Fail listing every array whose analytic gradient disagrees (one line each, in the results' order),
    and by how much. Returns the max error. ``blocks`` as for ``gradient_errors``."""
    lines, worst = gradient_errors(results, tol, blocks)
    if lines:
        raise AssertionError("\n".join(lines))
    return worst
