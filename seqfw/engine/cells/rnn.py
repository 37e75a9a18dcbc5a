"""The basic RNN cell."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import xp_of
from ..errors import check_choice
from ..kernels import Kernels
from .base import Cell, HState, Outer, Param, input_grad, uniform


@dataclass
class RNNOptions:
    """The options of ``cell=rnn`` (their defaults are the constructor's)."""

    nonlinearity: str = "tanh"  # tanh | relu


def _math(tanh):
    def tanh_backward(da, da_next, a):  # δ = dL/da<t> * (1 - a²)
        return (da + da_next) * (1 - a * a)

    def relu_backward(da, da_next, a):  # δ = dL/da<t> * [a > 0]
        return (da + da_next) * (a > 0)

    return {"tanh_backward": tanh_backward, "relu_backward": relu_backward}


RNN_MATH = Kernels("rnn", _math)


def _tanh(xp, z):
    return xp.tanh(z, out=z)  # in place: z is the step's own slice of the projected inputs


def _relu(xp, z):
    return xp.maximum(z, 0, out=z)


class RNNCell(Cell):
    r"""The basic (Elman) recurrent cell.

    One step, course notation::

        a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a)        g = tanh or relu

    with x<t> (B, D) the input, a<t-1> (B, H) the previous hidden state and
    a<t> the new one; the output head ŷ<t> = g(W_ya a<t> + b_y) belongs to the
    model, not the cell. Code names (row-vector convention, ``x @ W``):
    ``W_x`` = W_ax^T (D, H), ``W_h`` = W_aa^T (H, H), ``b`` = b_a (H,).
    G = 1 gate block, ``GATES = ("a",)``. State: ``HState(h)`` with h = a<t>.

    Backward, with z<t> the pre-activation and δ<t> = dL/dz<t>; dL/da<t> is the
    loss's own gradient at t plus what flows back from step t+1::

        δ<t>        = dL/da<t> * g'(z<t>)       g' = 1 - a<t>² (tanh), [a<t> > 0] (relu)
        dL/dW_aa   += δ<t> a<t-1>^T             (summed over t in one GEMM: Outer)
        dL/da<t-1>  = W_aa^T δ<t>               (flows to step t-1)
        dL/d(W_ax x<t> + b_a) = δ<t>            (dW_ax, db_a, dx reduced over t by the time loop)

    Initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H)), as PyTorch.

    Course layout (``seqfw.engine.layouts``): ``COURSE_NAMES`` maps each gate block to the letter of
    the course's ``W?``/``b?``: block a -> ``Wa`` = [W_aa | W_ax] (H, H + D), ``ba`` (H, 1).
    """

    GATES = ("a",)
    COURSE_NAMES = {"a": "a"}  # gate block -> course letter, in the course's order
    COURSE_VECTORS: dict = {}  # extra (H,) parameter -> its course name, as an (H, 1) column

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = RNNOptions.nonlinearity):
        super().__init__(input_size, hidden_size)
        self.nonlinearity = check_choice("RNNCell", "nonlinearity", nonlinearity, ("tanh", "relu"))
        self._g = _tanh if nonlinearity == "tanh" else _relu  # chosen once, not tested at every step
        self._dz = f"{nonlinearity}_backward"

    def param_specs(self):
        D, H = self.input_size, self.hidden_size
        init = uniform(1 / math.sqrt(H))
        g = self.GATES  # one block: declared so that a gradient message names it like the gated cells'
        return {"W_x": Param((D, H), init, blocks=g), "W_h": Param((H, H), init, blocks=g),
                "b": Param((H,), init, blocks=g)}

    def forward(self, params, xw, state):
        a_prev = state.h
        z = xw  # (B, H): x<t> W_x + b, ours to overwrite
        z += a_prev @ params["W_h"]
        a = self._g(xp_of(z), z)
        return a, HState(a), (a_prev, a)

    def backward(self, params, da, dstate, cache):
        a_prev, a = cache
        dz = getattr(RNN_MATH.on(xp_of(a)), self._dz)(da, dstate.h, a)  # (B, H)
        return dz, HState(input_grad(dz, params["W_h"])), {"W_h": Outer(a_prev, dz)}
