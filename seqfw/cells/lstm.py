"""Long short-term memory, with an optional peephole variant."""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import Array, xp_of
from . import fused
from .base import Cell, Outer, Param, blocks, constant, sigmoid, uniform


class LSTMState(NamedTuple):
    h: Array  # a<t>, the hidden output (B, H)
    c: Array  # c<t>, the memory cell (B, H)


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

    ``peephole=True`` (Gers & Schmidhuber 2000) lets the gates see the memory:
    Γu and Γf add ``p_i * c<t-1>`` and ``p_f * c<t-1>``, Γo adds ``p_o * c<t>``
    (diagonal weights, elementwise).

    Parameters: ``W_x`` (D, 4H), ``W_h`` (H, 4H), ``b`` (4H,), with peepholes
    also ``p_i``, ``p_f``, ``p_o`` (H,). All U(-1/sqrt(H), 1/sqrt(H)) except
    the forget block of ``b``, set to ``forget_bias`` (default 1.0, Jozefowicz
    et al. 2015) so that the cell starts out remembering.
    State: ``LSTMState(h, c)``.
    """

    GATES = ("i", "f", "g", "o")
    state_type = LSTMState
    outer_grads = True

    def __init__(self, input_size: int, hidden_size: int, peephole: bool = False, forget_bias: float = 1.0):
        super().__init__(input_size, hidden_size)
        if not isinstance(peephole, bool):
            raise ValueError(f"LSTMCell: peephole must be true or false, got {peephole!r}")
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)) or not math.isfinite(forget_bias):
            raise ValueError(f"LSTMCell: forget_bias must be a finite number, got {forget_bias!r}")
        self.peephole = peephole
        self.forget_bias = float(forget_bias)

    def param_specs(self):
        D, H = self.input_size, self.hidden_size
        init = uniform(1 / math.sqrt(H))
        specs = {
            "W_x": Param((D, 4 * H), init),
            "W_h": Param((H, 4 * H), init),
            "b": Param((4 * H,), blocks(init, constant(self.forget_bias), init, init)),
        }
        if self.peephole:
            specs.update({k: Param((H,), init) for k in ("p_i", "p_f", "p_o")})
        return specs

    def forward(self, params, xw, state):
        xp, H = xp_of(xw), self.hidden_size
        h_prev, c_prev = state
        gates = xw  # (B, 4H): [i, f, g, o] pre-activations, then activations, in place
        gates += h_prev @ params["W_h"]
        k = None if self.peephole else fused.kernels(xp)
        if k is not None:  # CuPy: one kernel for the gate math (seqfw/cells/fused.py)
            i, f, g, o, c, tc, h = k.lstm_forward(*(gates[:, j * H : (j + 1) * H] for j in range(4)), c_prev)
            return h, LSTMState(h, c), (h_prev, c_prev, (i, f, g, o), c, tc)
        if self.peephole:
            gates[:, :H] += params["p_i"] * c_prev
            gates[:, H : 2 * H] += params["p_f"] * c_prev
        sigmoid(gates[:, : 2 * H], out=gates[:, : 2 * H])
        i, f = gates[:, :H], gates[:, H : 2 * H]
        g = xp.tanh(gates[:, 2 * H : 3 * H], out=gates[:, 2 * H : 3 * H])
        c = f * c_prev
        c += i * g
        if self.peephole:
            gates[:, 3 * H :] += params["p_o"] * c
        o = sigmoid(gates[:, 3 * H :], out=gates[:, 3 * H :])
        tc = xp.tanh(c)
        h = o * tc
        return h, LSTMState(h, c), (h_prev, c_prev, gates, c, tc)

    def backward(self, params, dh, dstate, cache, outer=False):
        xp, H = xp_of(dh), self.hidden_size
        h_prev, c_prev, gates, c, tc = cache
        if isinstance(gates, tuple):  # the forward step ran fused
            k = fused.kernels(xp) or fused.plain()
            *dg, dc_prev = k.lstm_backward(dh, dstate.h, dstate.c, *gates, c_prev, tc)
            dG = xp.concatenate(dg, axis=1)  # (B, 4H), packed for the GEMMs
            return dG, LSTMState(dG @ params["W_h"].T, dc_prev), {"W_h": Outer(h_prev, dG) if outer else h_prev.T @ dG}
        i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
        dh = dh + dstate.h
        dG = xp.empty_like(gates)  # (B, 4H): dL/d pre-activations [i, f, g, o]
        dgo = dG[:, 3 * H :]
        xp.multiply(dh * tc, o * (1 - o), out=dgo)
        dc = dh * o * (1 - tc * tc)
        dc += dstate.c
        if self.peephole:
            dc += dgo * params["p_o"]
        xp.multiply(dc * g, i * (1 - i), out=dG[:, :H])
        xp.multiply(dc * c_prev, f * (1 - f), out=dG[:, H : 2 * H])
        xp.multiply(dc * i, 1 - g * g, out=dG[:, 2 * H : 3 * H])
        dc_prev = dc * f
        grads = {"W_h": Outer(h_prev, dG) if outer else h_prev.T @ dG}
        if self.peephole:
            dgi, dgf = dG[:, :H], dG[:, H : 2 * H]
            dc_prev += dgi * params["p_i"] + dgf * params["p_f"]
            grads.update(
                p_i=(dgi * c_prev).sum(axis=0), p_f=(dgf * c_prev).sum(axis=0), p_o=(dgo * c).sum(axis=0)
            )
        return dG, LSTMState(dG @ params["W_h"].T, dc_prev), grads
