"""One time step of a cell by hand, from the raw input, and its backward with dense gradients.

The time loop (``unroll``) projects all T inputs in one GEMM and sums the recurrent weights'
``Outer`` factors over all steps in another; stepping by hand (a decoder fed its own samples,
an online filter, a test) needs one step of the same math on its own::

    xw<t>        = x<t> @ W_x + b                     (cells with input_proj; else xw<t> = x<t>)
    a<t>, s<t>   = cell.forward(params, xw<t>, s<t-1>)

    dxw, ds<t-1>, g = cell.backward(params, da<t>, ds<t>, cache)
    dW_x = x<t>.T @ dxw,   db = Σ_b dxw,   dx<t> = dxw @ W_x.T,   Outer(a, b) -> a.T @ b

with x<t> (B, D), the state's fields (B, H). Every gradient is a dense array of its parameter's
shape, in the parameters' order: summing ``step_backward``'s gradients over t = T-1 .. 0 gives
``unroll_backward``'s. No masks (a caller stepping by hand feeds only real steps) and no dropout.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import Array, xp_of
from ..cells.base import Cell, Outer
from ..errors import check_float_input, check_same_dtype


class StepCache(NamedTuple):
    """What ``step_backward`` needs: the step's raw input and the cell's own cache."""

    x: Array  # (B, D)
    cell: Any


def check_step_dtypes(owner: str, params, x: Array, state) -> None:
    """A float input, and the input, the given state and the parameters in one dtype (``DtypeError``)."""
    check_float_input(owner, x)
    check_same_dtype(owner, ("the parameters are", params), ("the input x is", x), ("the state is", state))


def check_backward_dtypes(owner: str, params, dy: Array | None, dstate) -> None:
    """The gradients flowing in share the parameters' dtype (NumPy would promote the step's gradients)."""
    check_same_dtype(owner, ("the parameters are", params), ("dL/dy is", dy), ("dL/d(new state) is", dstate))


def step(cell: Cell, params: dict, x_t: Array, state) -> tuple[Array, Any, StepCache]:
    """One step of ``cell`` from the raw input ``x_t`` (B, D) and ``state`` (the cell's NamedTuple).

    Returns ``(h (B, H), new state, cache)``. Under ``input_proj`` the cell gets a fresh
    ``x_t @ W_x + b``, so its in-place writes never reach ``x_t``.
    """
    check_step_dtypes(f"step({type(cell).__name__})", params, x_t, state)
    if x_t.ndim != 2 or x_t.shape[1] != cell.input_size:
        raise ValueError(f"step: {type(cell).__name__} expects one step's input (B, {cell.input_size}), "
                         f"got {tuple(x_t.shape)}")
    if cell.input_proj:
        W_x, b = (params[k] for k in cell.input_proj)
        inp = x_t @ W_x + b  # a new array: the cell may overwrite it, as the loop's buffer
    else:
        inp = x_t
    h, new_state, cache = cell.forward(params, inp, state)
    return h, new_state, StepCache(x_t, cache)


def step_backward(cell: Cell, params: dict, dh: Array | None, dstate, cache: StepCache) -> tuple[Array, Any, dict]:
    """Back through one ``step``: ``dh`` = dL/dh (B, H), ``dstate`` = dL/d(new state) (None: zero for either).

    Returns ``(dx (B, D), dL/d(previous state), grads)``, ``grads`` a dense array for every
    parameter (the input projection's and ``Outer`` factors' included), keyed in ``params``' order.
    """
    check_backward_dtypes(f"step_backward({type(cell).__name__})", params, dh, dstate)
    x, cell_cache = cache
    xp, B = xp_of(x), x.shape[0]
    if dstate is None:
        dstate = cell.initial_state(B, xp, x.dtype)
    if dh is None:
        dh = xp.zeros((B, cell.hidden_size), dtype=x.dtype)
    dinput, dprev, g = cell.backward(params, dh, dstate, cell_cache)
    grads = {k: v.dense() if isinstance(v, Outer) else v for k, v in g.items()}
    dx = dinput
    if cell.input_proj:
        W_name, b_name = cell.input_proj
        grads[W_name] = x.T @ dinput
        grads[b_name] = dinput.sum(axis=0)
        dx = dinput @ params[W_name].T
    return dx, dprev, {k: grads[k] for k in params}
