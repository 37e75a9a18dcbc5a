"""Long short-term memory, and its peephole variant (two small classes, chosen when the cell is built)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from ..backend import Array, xp_of
from ..errors import SettingError, check_flag, check_number
from ..kernels import Kernels, sigmoid_of
from .base import Cell, Outer, Param, blocks, constant, input_grad, uniform


class LSTMState(NamedTuple):
    h: Array  # a<t>, the hidden output (B, H)
    c: Array  # c<t>, the memory cell (B, H)


@dataclass
class LSTMOptions:
    """The options of ``cell=lstm`` (their defaults are the constructor's)."""

    peephole: bool = False
    forget_bias: float = 1.0


def _math(tanh):
    sig = sigmoid_of(tanh)

    def forward(ai, af, ag, ao, c_prev):
        i, f, g, o = sig(ai), sig(af), tanh(ag), sig(ao)
        c = f * c_prev + i * g
        tc = tanh(c)
        return i, f, g, o, c, tc, o * tc

    def backward(dy, dh_next, dc_next, i, f, g, o, c_prev, tc):
        dh = dy + dh_next
        dgo = dh * tc * o * (1 - o)
        dc = dh * o * (1 - tc * tc) + dc_next
        return dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g), dgo, dc * f

    def peephole_forward(ai, af, ag, ao, c_prev, p_i, p_f, p_o):
        i, f, g = sig(ai + p_i * c_prev), sig(af + p_f * c_prev), tanh(ag)
        c = f * c_prev + i * g
        o = sig(ao + p_o * c)
        tc = tanh(c)
        return i, f, g, o, c, tc, o * tc

    def peephole_backward(dy, dh_next, dc_next, i, f, g, o, c_prev, tc, p_i, p_f, p_o):
        dh = dy + dh_next
        dgo = dh * tc * o * (1 - o)
        dc = dh * o * (1 - tc * tc) + dc_next + dgo * p_o
        dgi, dgf = dc * g * i * (1 - i), dc * c_prev * f * (1 - f)
        return dgi, dgf, dc * i * (1 - g * g), dgo, dc * f + dgi * p_i + dgf * p_f

    return {"forward": forward, "backward": backward,
            "peephole_forward": peephole_forward, "peephole_backward": peephole_backward}


LSTM_MATH = Kernels("lstm", _math)


class LSTMCell(Cell):
    r"""The LSTM cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    One step, course notation::

        c~<t> = tanh(W_c [a<t-1>, x<t>] + b_c)        candidate memory
        Γu    = σ(W_u [a<t-1>, x<t>] + b_u)           update (input) gate
        Γf    = σ(W_f [a<t-1>, x<t>] + b_f)           forget gate
        Γo    = σ(W_o [a<t-1>, x<t>] + b_o)           output gate
        c<t>  = Γu * c~<t> + Γf * c<t-1>
        a<t>  = Γo * tanh(c<t>)

    x<t> (B, D); a<t>, c<t> (B, H). Packed gate order ``GATES = ("i", "f", "g", "o")``
    as PyTorch and Flax, with i = Γu, f = Γf, g = c~, o = Γo.

    Backward, with δ_k the gradient of gate k's pre-activation; da = dL/da<t> (the loss's
    own plus what flows back from t+1) and dc<t+1> flowing back through the memory::

        δo  = da * tanh(c<t>) * Γo (1 - Γo)
        dc  = da * Γo * (1 - tanh²(c<t>)) + dc<t+1>              dL/dc<t>
        δu  = dc * c~<t> * Γu (1 - Γu)      δf = dc * c<t-1> * Γf (1 - Γf)
        δc~ = dc * Γu * (1 - c~<t>²)
        dc<t> -> dL/dc<t-1> = dc * Γf       dL/da<t-1> = W_h δ     dL/dW_h += a<t-1>^T δ

    with δ = [δu, δf, δc~, δo] (B, 4H), which is also dL/d(W_x x<t> + b).

    ``peephole=True`` (Gers & Schmidhuber 2000) builds a ``PeepholeLSTMCell``.

    Parameters: ``W_x`` (D, 4H), ``W_h`` (H, 4H), ``b`` (4H,). All U(-1/sqrt(H), 1/sqrt(H))
    except the forget block of ``b``, set to ``forget_bias`` (default 1.0, Jozefowicz
    et al. 2015) so that the cell starts out remembering. State: ``LSTMState(h, c)``.

    Course layout (``seqfw.engine.layouts``, the programming exercise's names): f -> ``Wf``, ``bf``;
    i -> ``Wi``, ``bi`` (Γu, the update gate); g -> ``Wc``, ``bc``; o -> ``Wo``, ``bo``.
    """

    GATES = ("i", "f", "g", "o")
    COURSE_NAMES = {"f": "f", "i": "i", "g": "c", "o": "o"}  # gate block -> course letter, in the course's order
    COURSE_VECTORS: dict = {}  # extra (H,) parameter -> its course name, as an (H, 1) column
    state_type = LSTMState
    peephole = False

    def __new__(cls, *args, **kwargs):
        # the option picks the class, so that each variant's step is written once, without a per-step test;
        # a subclass (a plugin's cell, with options of its own) is built as itself
        if cls is LSTMCell and kwargs.get("peephole", args[2] if len(args) > 2 else LSTMOptions.peephole) is True:
            cls = PeepholeLSTMCell
        return super().__new__(cls)

    def __init__(self, input_size: int, hidden_size: int, peephole: bool = LSTMOptions.peephole,
                 forget_bias: float = LSTMOptions.forget_bias):
        super().__init__(input_size, hidden_size)
        if check_flag("LSTMCell", "peephole", peephole) is not self.peephole:  # a subclass's class is its form
            raise SettingError(type(self).__name__, "peephole", peephole,
                               f"must be {self.peephole} for this class (derive from PeepholeLSTMCell for peepholes)")
        self.forget_bias = check_number("LSTMCell", "forget_bias", forget_bias)

    def param_specs(self):
        D, H = self.input_size, self.hidden_size
        init = uniform(1 / math.sqrt(H))
        g = self.GATES  # [i | f | g | o] along the last axis
        return {"W_x": Param((D, 4 * H), init, blocks=g), "W_h": Param((H, 4 * H), init, blocks=g),
                "b": Param((4 * H,), blocks(init, constant(self.forget_bias), init, init), blocks=g)}

    def forward(self, params, xw, state):
        H = self.hidden_size
        gates = xw  # (B, 4H): [i, f, g, o] pre-activations
        gates += state.h @ params["W_h"]
        i, f, g, o, c, tc, h = self._forward(xp_of(xw), params, state.c, *(gates[:, j * H : (j + 1) * H] for j in range(4)))
        return h, LSTMState(h, c), (state.h, state.c, (i, f, g, o), c, tc)

    def backward(self, params, dh, dstate, cache):
        h_prev, c_prev, gates, c, tc = cache
        xp = xp_of(dh)
        *dg, dc_prev = self._backward(xp, params, dh, dstate, gates, c_prev, tc)
        dG = xp.concatenate(dg, axis=1)  # (B, 4H): δ, packed for the GEMMs
        return dG, LSTMState(input_grad(dG, params["W_h"]), dc_prev), {"W_h": Outer(h_prev, dG), **self._extra(dg, c_prev, c)}

    # -- what the peephole variant changes ----------------------------------------------
    def _forward(self, xp, params, c_prev, ai, af, ag, ao):
        return LSTM_MATH.on(xp).forward(ai, af, ag, ao, c_prev)

    def _backward(self, xp, params, dh, dstate, gates, c_prev, tc):
        return LSTM_MATH.on(xp).backward(dh, dstate.h, dstate.c, *gates, c_prev, tc)

    def _extra(self, dg, c_prev, c) -> dict:
        return {}


class PeepholeLSTMCell(LSTMCell):
    r"""The LSTM with peepholes (Gers & Schmidhuber 2000): the gates also see the memory.

    Γu and Γf add ``p_i * c<t-1>`` and ``p_f * c<t-1>`` to their pre-activations, Γo adds
    ``p_o * c<t>`` (diagonal weights, elementwise); otherwise as ``LSTMCell``. Backward,
    besides ``LSTMCell``'s: dc gains δo * p_o, dL/dc<t-1> gains δu * p_i + δf * p_f, and
    dL/dp_i = Σ_b δu c<t-1>, dL/dp_f = Σ_b δf c<t-1>, dL/dp_o = Σ_b δo c<t>.

    Parameters: as ``LSTMCell`` plus ``p_i``, ``p_f``, ``p_o`` (H,), U(-1/sqrt(H), 1/sqrt(H)).
    Course layout: as ``LSTMCell`` plus ``pf``, ``pi``, ``po`` (H, 1).
    """

    peephole = True
    COURSE_VECTORS = {"p_f": "pf", "p_i": "pi", "p_o": "po"}

    def __init__(self, input_size: int, hidden_size: int, peephole: bool = True,
                 forget_bias: float = LSTMOptions.forget_bias):
        super().__init__(input_size, hidden_size, peephole, forget_bias)

    def param_specs(self):
        init = uniform(1 / math.sqrt(self.hidden_size))
        return {**super().param_specs(), **{k: Param((self.hidden_size,), init) for k in ("p_i", "p_f", "p_o")}}

    def _forward(self, xp, params, c_prev, ai, af, ag, ao):
        return LSTM_MATH.on(xp).peephole_forward(ai, af, ag, ao, c_prev, params["p_i"], params["p_f"], params["p_o"])

    def _backward(self, xp, params, dh, dstate, gates, c_prev, tc):
        return LSTM_MATH.on(xp).peephole_backward(dh, dstate.h, dstate.c, *gates, c_prev, tc,
                                                  params["p_i"], params["p_f"], params["p_o"])

    def _extra(self, dg, c_prev, c) -> dict:
        dgi, dgf, _, dgo = dg
        return {"p_i": (dgi * c_prev).sum(axis=0), "p_f": (dgf * c_prev).sum(axis=0), "p_o": (dgo * c).sum(axis=0)}
