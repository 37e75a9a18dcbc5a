"""The basic RNN cell."""
from __future__ import annotations

import math

from ..backend import xp_of
from . import fused
from .base import Cell, HState, Outer, Param, uniform

ACTIVATIONS = ("tanh", "relu")


class RNNCell(Cell):
    r"""The basic (Elman) recurrent cell.

    One step, course notation::

        a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a)        g = tanh or relu

    with x<t> (B, D) the input, a<t-1> (B, H) the previous hidden state and
    a<t> the new one; the output head ŷ<t> = g(W_ya a<t> + b_y) belongs to the
    topology, not the cell. Code names (row-vector convention, ``x @ W``):
    ``W_x`` = W_ax^T (D, H), ``W_h`` = W_aa^T (H, H), ``b`` = b_a (H,).
    G = 1 gate block. State: ``HState(h)`` with h = a<t>.

    Backward, with z<t> the pre-activation and δ = dL/dz<t>::

        δ = (dL/da<t>) * g'(z<t>)      g' = 1 - a² (tanh), [a > 0] (relu)
        dW_aa += a<t-1>^T δ,   dL/da<t-1> = δ W_aa,   dL/d(W_ax x<t> + b_a) = δ

    Initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H)), as PyTorch.
    """

    GATES = ("a",)
    outer_grads = True

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh"):
        super().__init__(input_size, hidden_size)
        if nonlinearity not in ACTIVATIONS:
            raise ValueError(
                f"RNNCell: nonlinearity must be one of {', '.join(ACTIVATIONS)}, got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity

    def param_specs(self):
        D, H = self.input_size, self.hidden_size
        init = uniform(1 / math.sqrt(H))
        return {"W_x": Param((D, H), init), "W_h": Param((H, H), init), "b": Param((H,), init)}

    def forward(self, params, xw, state):
        a_prev = state.h
        z = xw  # (B, H): x<t> W_x + b, ours to overwrite
        z += a_prev @ params["W_h"]
        a = self._g(z)
        return a, HState(a), (a_prev, a)

    def backward(self, params, da, dstate, cache, outer=False):
        a_prev, a = cache
        k = fused.kernels(xp_of(a)) if self.nonlinearity == "tanh" else None
        if k is not None:  # CuPy: one kernel (seqfw/cells/fused.py)
            dz = k.tanh_backward(da, dstate.h, a)
            return dz, HState(dz @ params["W_h"].T), {"W_h": Outer(a_prev, dz) if outer else a_prev.T @ dz}
        da = da + dstate.h
        if self.nonlinearity == "tanh":
            dz = da * (1 - a * a)
        else:
            dz = da * (a > 0)
        grads = {"W_h": Outer(a_prev, dz) if outer else a_prev.T @ dz}
        return dz, HState(dz @ params["W_h"].T), grads

    def _g(self, z):
        xp = xp_of(z)
        if self.nonlinearity == "tanh":
            return xp.tanh(z, out=z)
        return xp.maximum(z, 0, out=z)
