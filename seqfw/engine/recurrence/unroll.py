"""The time loop: run any cell over a (T, B, D) sequence and back-propagate through time.

Forward, for one direction::

    XW = X @ W_x + b                        # all T steps in one GEMM (cells with input_proj)
    for t in 0..T-1:
        a<t>, s<t>, cache<t> = cell.forward(params, XW[t], s<t-1>)
        where t >= length[b]: a<t>[b] = 0, s<t>[b] = s<t-1>[b]     # padding is inert

Backward walks the caches in reverse; padded rows pass dL/ds straight through,
so appending padding changes no output, state or gradient. ``dW_x``, ``db``
and ``dX`` are then one GEMM each over all steps.

``keep_states=True`` also records s<t> after every step (the masked one: a padded row holds
its carried state, i.e. its final state) into (T, B, H) arrays, one per state field; off by
default, since it keeps T states alive (the cell caches usually hold them only in pieces).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import Array, to_host, xp_of
from ..cells.base import Cell, Outer, init_args, state_args
from ..tree import tree_add_, tree_map
from .step import step, step_backward


class UnrollCache(NamedTuple):
    x: Array  # (T, B, D) the inputs
    steps: list  # the cell's per-step caches
    mask: Array | None  # (T, B, 1) bool, or None when no sequence is padded
    full: np.ndarray | None  # (T,) host bool: no row of step t is padded
    states: Any = None  # with keep_states: the cell's state NamedTuple of (T, B, H) arrays, s<t> after step t


def length_mask(lengths: Array | None, T: int, xp=np) -> Array | None:
    """(T, B, 1) bool mask of real (non-padding) positions, or None when every length is T."""
    if lengths is None:
        return None
    lengths = xp.asarray(lengths)
    if int(lengths.min()) >= T:
        return None
    return (xp.arange(T)[:, None] < lengths[None, :])[:, :, None]


LOSS_STEPS = ("all", "last", "first")


def loss_mask(lengths: Array | None, T: int, steps: str = "all", xp=np, batch: int = 1) -> Array | None:
    """(T, B, 1) bool mask of the steps whose loss terms count: ``all`` real steps (``length_mask``), each
    sequence's ``last`` real step only, or the ``first`` step only (one term per sequence: the seed of the
    lag view of gradient norms, ``seqfw.engine.vanishing``). ``batch`` is B when ``lengths`` is None."""
    if steps == "all":
        return length_mask(lengths, T, xp)
    if steps not in LOSS_STEPS:
        raise ValueError(f"loss_steps must be one of {', '.join(LOSS_STEPS)}, got {steps!r}")
    ends = xp.full(batch, T) if lengths is None else xp.asarray(lengths)
    at = ends - 1 if steps == "last" else xp.zeros_like(ends)
    return (xp.arange(T)[:, None] == at[None, :])[:, :, None]


def _where_state(mask, new, old):
    xp = xp_of(mask)
    return tree_map(lambda n, o: xp.where(mask, n, o), new, old)


def unroll(cell: Cell, params: dict, x: Array, state0, mask: Array | None = None, keep_states: bool = False):
    """Run ``cell`` over ``x`` (T, B, D) from ``state0``.

    Returns ``(outputs (T, B, H), final state, cache)``; outputs at padded
    positions are 0 and each row's final state is its state at its last real step.
    ``keep_states``: ``cache.states`` holds the state after every step (see the module's doc).
    """
    xp = xp_of(x)
    T, B, D = x.shape
    H = cell.hidden_size
    if D != cell.input_size:
        raise ValueError(f"{type(cell).__name__} expects inputs of size {cell.input_size}, got (T, B, D) = {x.shape}")
    if cell.input_proj:
        W_x, b = (params[k] for k in cell.input_proj)
        inputs = (x.reshape(T * B, D) @ W_x + b).reshape(T, B, -1)  # (T, B, G*H), one GEMM
    else:
        inputs = x
    full = None if mask is None else to_host(mask.all(axis=(1, 2)))
    ys = xp.empty((T, B, H), dtype=x.dtype)
    steps = []
    state = state0
    kept = type(state0)(*(xp.empty((T,) + a.shape, dtype=a.dtype) for a in state0)) if keep_states else None
    for t in range(T):
        h, new_state, cache = cell.forward(params, inputs[t], state)
        if full is None or full[t]:
            ys[t] = h
            state = new_state
        else:
            ys[t] = xp.where(mask[t], h, 0)
            state = _where_state(mask[t], new_state, state)
        steps.append(cache)
        if kept is not None:
            for buffer, a in zip(kept, state):
                buffer[t] = a
    return ys, state, UnrollCache(x, steps, mask, full, kept)


def unroll_backward(
    cell: Cell, params: dict, dys: Array | None, dstate: Any, cache: UnrollCache, step_norms: bool = False
):
    """Back-propagate through the time steps recorded in ``cache``.

    ``dys`` (T, B, H) is dL/d outputs (``None`` for zero), ``dstate`` dL/d final
    state (``None`` for zero). Returns ``(dx (T, B, D), dstate0, grads, norms)``
    where ``norms`` (T, B) holds ‖∂L/∂a<t>‖ per sequence when ``step_norms`` is
    set (else ``None``): the total gradient reaching the hidden state at step t
    (0 at padding).
    """
    x, steps, mask, full = cache.x, cache.steps, cache.mask, cache.full
    xp = xp_of(x)
    T, B, _ = x.shape
    H = cell.hidden_size
    if dstate is None:
        dstate = cell.initial_state(B, xp, x.dtype)
    zero_dy = xp.zeros((B, H), dtype=x.dtype) if dys is None else None
    # in float64 whatever the run's dtype: a float32 sum of squares underflows to 0 below norms of ~1e-22,
    # long before the float32 gradient itself does (~1e-38)
    norms = xp.zeros((T, B), dtype=np.float64) if step_norms else None
    dinputs = None
    grads = None
    outers: dict[str, list] = {}  # name -> [(a, b or None when b is the step's dinput)], from t = T-1 down
    for t in reversed(range(T)):
        dy = zero_dy if dys is None else dys[t]
        padded = not (full is None or full[t])
        dy_in, dstate_in = (dy, dstate) if not padded else (
            xp.where(mask[t], dy, 0), tree_map(lambda d: xp.where(mask[t], d, 0), dstate))
        if step_norms:
            da = (dy_in + dstate_in[0]).astype(np.float64)
            norms[t] = xp.sqrt((da * da).sum(axis=1))
        dinput, dprev, g = cell.backward(params, dy_in, dstate_in, steps[t])
        if dinputs is None:
            dinputs = xp.empty((T,) + dinput.shape, dtype=x.dtype)
        dinputs[t] = dinput
        dstate = _where_state(mask[t], dprev, dstate) if padded else dprev
        for name in [k for k, v in g.items() if isinstance(v, Outer)]:
            a, b = g.pop(name)
            outers.setdefault(name, []).append((a, None if b is dinput else b))
        if g or grads is None:  # a cell whose gradients are all Outer factors leaves g empty
            grads = tree_add_(grads, g)
    grads = dict(grads or {})
    for name, factors in outers.items():
        grads[name] = _sum_outers(factors, dinputs)
    dx = dinputs
    if cell.input_proj:
        dx = _input_projection_backward(cell.input_proj, params, x, dinputs, grads)
    # the cell's declaration order, so every gradient tree matches its parameter tree
    grads = {k: grads[k] for k in params}
    return dx, dstate, grads, norms


def _sum_outers(factors: list, dinputs: Array) -> Array:
    """Σ_t a<t>.T @ b<t> as one GEMM over all T*B rows (``factors`` from t = T-1 down; b None = the step's dinput)."""
    xp, (T, B) = xp_of(dinputs), dinputs.shape[:2]
    factors = factors[::-1]  # t = 0..T-1, the order of dinputs
    a = xp.concatenate([f[0] for f in factors])
    b = (dinputs.reshape(T * B, -1) if all(f[1] is None for f in factors)
         else xp.concatenate([dinputs[t] if bt is None else bt for t, (_, bt) in enumerate(factors)]))
    return a.T @ b


def _input_projection_backward(names: tuple[str, str], params: dict, x: Array, dxw: Array, grads: dict) -> Array:
    """dW_x, db (into ``grads``) and dx from dL/d(x W_x + b), each one GEMM over all steps."""
    xp, (T, B, D) = xp_of(x), x.shape
    W_name, b_name = names
    dxw = dxw.reshape(T * B, -1)
    grads[W_name] = x.reshape(T * B, D).T @ dxw
    grads[b_name] = xp.ones(T * B, dtype=dxw.dtype) @ dxw  # a GEMV: ~2.5x faster than sum(axis=0)
    return (dxw @ params[W_name].T).reshape(T, B, D)


class Unidirectional:
    """One cell run left to right: ``for t: a<t> = cell(x<t>, a<t-1>)``.

    Params ``{"fwd": cell params}``, state ``{"fwd": cell state}``.
    """

    directions = ("fwd",)

    def __init__(self, cell: Cell):
        self.cells = {"fwd": cell}
        self.input_size = cell.input_size
        self.output_size = cell.hidden_size

    def init_params(self, rng, xp=None, dtype=None, *, seed: int | None = None) -> dict:
        """``init_params(be)`` or ``init_params(rng, xp, dtype)`` (``cells.base.init_args``)."""
        rng, xp, dtype = init_args(f"{type(self).__name__}.init_params", rng, xp, dtype, seed)
        return {d: c.init_params(rng, xp, dtype) for d, c in self.cells.items()}

    def initial_state(self, batch: int, xp=None, dtype=None) -> dict:
        """``initial_state(batch, be)`` or ``initial_state(batch, xp, dtype)`` (``cells.base.state_args``)."""
        xp, dtype = state_args(f"{type(self).__name__}.initial_state", xp, dtype)
        return {d: c.initial_state(batch, xp, dtype) for d, c in self.cells.items()}

    def start_state(self, state: dict | None, batch: int, xp, dtype) -> dict:
        """``state`` with any missing direction (``None``) filled by its initial state."""
        state = state or {}
        return {d: state.get(d) if state.get(d) is not None else c.initial_state(batch, xp, dtype)
                for d, c in self.cells.items()}

    def forward(self, params, x, state, lengths=None, mask=None, keep_states=False):
        state = self.start_state(state, x.shape[1], xp_of(x), x.dtype)
        ys, final, cache = unroll(self.cells["fwd"], params["fwd"], x, state["fwd"], mask, keep_states)
        return ys, {"fwd": final}, cache

    def backward(self, params, dys, dstate, cache, step_norms=False):
        dstate = dstate or {}
        dx, ds0, grads, norms = unroll_backward(
            self.cells["fwd"], params["fwd"], dys, dstate.get("fwd"), cache, step_norms
        )
        return dx, {"fwd": ds0}, {"fwd": grads}, {"fwd": norms}

    def states(self, cache) -> dict:
        """``{"fwd": state NamedTuple of (T, B, H) arrays}`` from a ``keep_states`` forward's cache."""
        return {"fwd": cache.states}

    # -- one step by hand (``Stacked.step``) -----------------------------------------------------
    def step(self, params, x_t, state):
        """``x_t`` (B, D), ``state`` ``{"fwd": ...}`` (a None direction: zeros) -> ``(h, {"fwd": state}, cache)``."""
        state = self.start_state(state, x_t.shape[0], xp_of(x_t), x_t.dtype)
        h, new, cache = step(self.cells["fwd"], params["fwd"], x_t, state["fwd"])
        return h, {"fwd": new}, cache

    def step_backward(self, params, dh, dstate, cache):
        """-> ``(dx (B, D), {"fwd": dstate_prev}, {"fwd": grads})``; None for ``dh`` or ``dstate``: zero."""
        dx, dprev, grads = step_backward(self.cells["fwd"], params["fwd"], dh, (dstate or {}).get("fwd"), cache)
        return dx, {"fwd": dprev}, {"fwd": grads}
