"""Bidirectional layers: one cell reads the sequence forwards, another backwards."""
from __future__ import annotations

from ..backend import Array, xp_of
from ..cells.base import Cell
from ..tree import tree_map
from .unroll import Unidirectional, unroll, unroll_backward


def reverse_padded(x: Array, lengths: Array | None) -> Array:
    """Reverse each sequence of ``x`` (T, B, ...) within its own length; padding stays put.

    Row b becomes x[L_b-1], ..., x[0], pad, ..., pad, so the reverse direction
    starts at each sequence's last real token, never at padding. Its own inverse.
    """
    if lengths is None:
        return x[::-1]
    xp = xp_of(x)
    T, B = x.shape[:2]
    t = xp.arange(T)[:, None]
    lengths = xp.asarray(lengths)[None, :]
    src = xp.where(t < lengths, lengths - 1 - t, t)  # (T, B)
    return x[src, xp.arange(B)[None, :]]


class Bidirectional(Unidirectional):
    """Two unrolls and a merge (concatenation of the features)::

        fwd<t> = cell_f(x<t>, fwd<t-1>)                      t = 0 .. L-1
        bwd<t> = cell_b(x<t>, bwd<t+1>)                      t = L-1 .. 0
        y<t>   = [fwd<t>, bwd<t>]                            (B, 2H)

    Params ``{"fwd": ..., "bwd": ...}``; the ``bwd`` final state is its state
    after reading the first token (as PyTorch's ``h_n`` for the reverse direction).
    Its per-step states (``keep_states``) are in input order: ``bwd`` at t is its state after
    reading x<L-1> .. x<t>. It cannot be stepped: its state at t depends on the inputs after t.
    """

    directions = ("fwd", "bwd")

    def __init__(self, cell_fwd: Cell, cell_bwd: Cell):
        if (cell_fwd.input_size, cell_fwd.hidden_size) != (cell_bwd.input_size, cell_bwd.hidden_size):
            raise ValueError("Bidirectional: both directions need the same input and hidden sizes")
        self.cells = {"fwd": cell_fwd, "bwd": cell_bwd}
        self.input_size = cell_fwd.input_size
        self.output_size = 2 * cell_fwd.hidden_size

    def forward(self, params, x, state, lengths=None, mask=None, keep_states=False):
        xp = xp_of(x)
        state = self.start_state(state, x.shape[1], xp, x.dtype)
        yf, sf, cf = unroll(self.cells["fwd"], params["fwd"], x, state["fwd"], mask, keep_states)
        yb_rev, sb, cb = unroll(self.cells["bwd"], params["bwd"], reverse_padded(x, lengths), state["bwd"], mask,
                                keep_states)
        ys = xp.concatenate([yf, reverse_padded(yb_rev, lengths)], axis=-1)  # (T, B, 2H)
        return ys, {"fwd": sf, "bwd": sb}, (cf, cb, lengths)

    def backward(self, params, dys, dstate, cache, step_norms=False):
        cf, cb, lengths = cache
        dstate = dstate or {}
        H = self.cells["fwd"].hidden_size
        dyf = None if dys is None else dys[..., :H]
        dyb = None if dys is None else reverse_padded(dys[..., H:], lengths)
        dxf, dsf, gf, nf = unroll_backward(self.cells["fwd"], params["fwd"], dyf, dstate.get("fwd"), cf, step_norms)
        dxb, dsb, gb, nb = unroll_backward(self.cells["bwd"], params["bwd"], dyb, dstate.get("bwd"), cb, step_norms)
        dx = dxf + reverse_padded(dxb, lengths)
        nb = None if nb is None else reverse_padded(nb, lengths)  # the reverse direction's norms in input order
        return dx, {"fwd": dsf, "bwd": dsb}, {"fwd": gf, "bwd": gb}, {"fwd": nf, "bwd": nb}

    def states(self, cache) -> dict:
        """``{"fwd": ..., "bwd": ...}`` per-step states, both in input order (reversed here, only when asked)."""
        cf, cb, lengths = cache
        bwd = None if cb.states is None else tree_map(lambda s: reverse_padded(s, lengths), cb.states)
        return {"fwd": cf.states, "bwd": bwd}

    def step(self, *args, **kwargs):
        raise ValueError(STEP_REFUSAL.format(where="Bidirectional.step", layer="this layer"))

    def step_backward(self, *args, **kwargs):
        raise ValueError(STEP_REFUSAL.format(where="Bidirectional.step_backward", layer="this layer"))


STEP_REFUSAL = ("{where}: {layer} is bidirectional and cannot be stepped: its reverse direction reads the "
                "sequence from the end, so its state at step t depends on inputs not seen yet. Run the whole "
                "sequence with `net.forward(params, x, lengths)`, or step a unidirectional network "
                "(`bidirectional=False`).")
