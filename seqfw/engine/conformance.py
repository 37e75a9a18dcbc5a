"""The conformance kit: what every cell, built-in or plugin, must satisfy.

``check_cell(MyCell)`` runs it all; ``CellSuite`` runs each part as its own pytest test.
Gradients are checked by float64 central differences (``seqfw.engine.gradcheck``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .backend import cupy_available, get_backend, to_host
from .gradcheck import assert_gradients_close, network_gradients
from .recurrence import Bidirectional, Stacked, Unidirectional, unroll
from .tree import flatten, tree_map


class CellCheckError(AssertionError):
    """A cell broke the contract of ``seqfw.cells.Cell``; the message says which part and by how much."""


def _fail(cell, what: str) -> None:
    raise CellCheckError(f"{type(cell).__name__}: {what}")


def check_structure(cell, xp=np, dtype=np.float32, batch: int = 3) -> None:
    """Declared parameters, initial state and one step keep their shapes, types and ``dtype``."""
    H, D = cell.hidden_size, cell.input_size
    specs = cell.param_specs()
    params = cell.init_params(np.random.default_rng(0), xp, dtype)
    if list(params) != list(specs):
        _fail(cell, f"init_params gave {list(params)}, param_specs declares {list(specs)}")
    for name, spec in specs.items():
        if tuple(params[name].shape) != tuple(spec.shape) or params[name].dtype != dtype:
            _fail(cell, f"parameter {name} is {params[name].shape} {params[name].dtype}, declared {spec.shape} {dtype}")
    if cell.input_proj and not all(k in params for k in cell.input_proj):
        _fail(cell, f"input_proj names {cell.input_proj} but the parameters are {list(params)}")
    state = cell.initial_state(batch, xp, dtype)
    if not (isinstance(state, tuple) and hasattr(state, "_fields") and state._fields[0] == "h"):
        _fail(cell, "initial_state must return a NamedTuple whose first field is h")
    if any(a.shape != (batch, H) or a.dtype != dtype for a in state):
        _fail(cell, f"initial_state must give ({batch}, {H}) arrays of the requested dtype {np.dtype(dtype).name}")
    x = xp.asarray(np.random.default_rng(1).standard_normal((4, batch, D)), dtype=dtype)
    ys, final, _ = unroll(cell, params, x, state)
    if ys.shape != (4, batch, H) or ys.dtype != dtype:
        _fail(cell, f"outputs are {ys.shape} {ys.dtype}, expected {(4, batch, H)} {dtype}")
    if type(final) is not type(state) or any(a.shape != (batch, H) or a.dtype != dtype for a in final):
        _fail(cell, "the state changed structure, shape or dtype over a step")
    if not all(bool(xp.isfinite(a).all()) for a in (ys, *final)):
        _fail(cell, "non-finite outputs from a random input")


def check_step_equals_unrolled(cell, T: int = 5, batch: int = 2) -> float:
    """Calling ``forward`` step by step gives what the framework's unrolled loop gives."""
    params = cell.init_params(np.random.default_rng(0), np, np.float64)
    x = np.random.default_rng(1).standard_normal((T, batch, cell.input_size))
    ys, final, _ = unroll(cell, params, x, cell.initial_state(batch, np, np.float64))
    state, worst = cell.initial_state(batch, np, np.float64), 0.0
    for t in range(T):
        inp = x[t] @ params[cell.input_proj[0]] + params[cell.input_proj[1]] if cell.input_proj else x[t]
        h, state, _ = cell.forward(params, inp, state)
        worst = max(worst, float(np.abs(h - ys[t]).max()))
    worst = max([worst] + [float(np.abs(a - b).max()) for a, b in zip(state, final)])
    if worst > 1e-12:
        _fail(cell, f"one step at a time differs from the unrolled sequence by {worst:.3e}")
    return worst


def check_gradients(make_cell: Callable[[int, int], object], tol: float = 1e-6) -> float:
    """Float64 central differences of every parameter, the inputs and the initial state, for one
    layer and for a bidirectional two-layer stack, over a ragged batch (masks) with truncated BPTT too."""
    D, H, T, B = 2, 3, 4, 3
    worst = 0.0
    setups = [(Stacked([Unidirectional(make_cell(D, H))]), None, None),
              (Stacked([Unidirectional(make_cell(D, H))]), np.array([4, 2, 3]), 2),
              (Stacked([Bidirectional(make_cell(D, H), make_cell(D, H)),
                        Bidirectional(make_cell(2 * H, H), make_cell(2 * H, H))]), np.array([4, 2, 3]), None)]
    for net, lengths, bptt in setups:
        params = net.init_params(np.random.default_rng(0), np, np.float64)
        x = np.random.default_rng(1).standard_normal((T, B, D))
        rng = np.random.default_rng(2)
        state0 = tree_map(lambda a: rng.standard_normal(a.shape), net.initial_state(B, np, np.float64))
        try:
            worst = max(worst, assert_gradients_close(network_gradients(net, params, x, lengths, state0, bptt), tol))
        except AssertionError as err:
            raise CellCheckError(f"{type(net.layers[0].cells['fwd']).__name__}: {err}") from None
    return worst


def check_masks(make_cell: Callable[[int, int], object]) -> None:
    """Padding (even loud garbage) changes no output, final state or gradient of the real steps."""
    net = Stacked([Bidirectional(make_cell(2, 3), make_cell(2, 3))])
    params = net.init_params(np.random.default_rng(0), np, np.float64)
    rng = np.random.default_rng(1)
    lengths = np.array([4, 2])
    x = rng.standard_normal((4, 2, 2))
    x_pad = np.concatenate([x, 50 * rng.standard_normal((3, 2, 2))])
    dy = rng.standard_normal((4, 2, 6)) * (np.arange(4)[:, None] < lengths)[:, :, None]
    runs = []
    for xs, dys in ((x, dy), (x_pad, np.concatenate([dy, rng.standard_normal((3, 2, 6))]))):
        y, finals, cache = net.forward(params, xs, lengths)
        dx, _, grads, _ = net.backward(params, dys, None, cache)
        runs.append((y[:4], finals, dx[:4], grads))
    (a, b) = runs
    pairs = [("outputs", a[0], b[0]), ("inputs' gradient", a[2], b[2])]
    pairs += [(f"final state {k}", v, flatten(b[1])[k]) for k, v in flatten(a[1]).items()]
    pairs += [(f"gradient of {k}", v, flatten(b[3])[k]) for k, v in flatten(a[3]).items()]
    for what, u, v in pairs:
        if not np.allclose(u, v, rtol=1e-10, atol=1e-12):
            _fail(net.layers[0].cells["fwd"], f"padding changed the {what} (max diff {np.abs(u - v).max():.3e})")


def check_cell(cell_cls, backends=("numpy", "cupy"), **options) -> dict:
    """Run the whole conformance kit on ``cell_cls(input_size, hidden_size, **options)``.

    Raises ``CellCheckError`` naming the first failure (for gradients: the first parameter whose
    gradient is wrong and the relative error). CuPy runs only where a GPU is usable; the returned
    report says which backends and dtypes were checked and the worst gradient error.
    """

    def make_cell(d, h):
        return cell_cls(d, h, **options)

    checked = []
    for name in backends:
        if name == "cupy" and not cupy_available():
            continue
        xp = get_backend(name).xp
        for dtype in (np.float32, np.float64):
            check_structure(make_cell(3, 4), xp, dtype)
            checked.append(f"{name}/{np.dtype(dtype).name}")
    step = check_step_equals_unrolled(make_cell(3, 4))
    worst = check_gradients(make_cell)
    check_masks(make_cell)
    if any(c.startswith("cupy") for c in checked):
        check_backends_agree(make_cell)
    return {"structure": checked, "step_vs_unrolled": step, "max_gradient_error": worst}


class CellSuite:
    """Subclass in a plugin's tests (``class TestMyCell(CellSuite): cell_cls = MyCell``); pytest
    then runs each part of the kit as its own test. ``options`` are passed to the constructor."""

    cell_cls: type = None
    options: dict = {}

    def _make(self, d, h):
        return self.cell_cls(d, h, **self.options)

    def test_structure(self):
        for dtype in (np.float32, np.float64):
            check_structure(self._make(3, 4), np, dtype)

    def test_step_equals_unrolled(self):
        check_step_equals_unrolled(self._make(3, 4))

    def test_gradients(self):
        check_gradients(self._make)

    def test_masks(self):
        check_masks(self._make)

    def test_cupy_agrees_with_numpy(self):
    
        if not cupy_available():
            import pytest

            pytest.skip("CuPy with a CUDA device is needed to compare backends")
        check_backends_agree(self._make)


def check_backends_agree(make_cell: Callable[[int, int], object], tol: float = 1e-5) -> float:
    """The same float32 parameters and inputs give the same outputs on NumPy and CuPy."""
    cell = make_cell(3, 4)
    params = cell.init_params(np.random.default_rng(0), np, np.float32)
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    cp = get_backend("cupy").xp
    ys, _, _ = unroll(cell, params, x, cell.initial_state(2, np, np.float32))
    ys_gpu, _, _ = unroll(cell, {k: cp.asarray(v) for k, v in params.items()}, cp.asarray(x),
                          cell.initial_state(2, cp, np.float32))
    diff = float(np.abs(to_host(ys_gpu) - ys).max())
    if diff > tol:
        _fail(cell, f"CuPy and NumPy outputs differ by {diff:.3e}")
    return diff
