"""minGRU as a seqfw cell: the GRU with gates that read only the input (Feng et al. 2024)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import seqfw
from seqfw.backend import xp_of
from seqfw.cells import Cell, HState, Param, sigmoid, uniform

__version__ = "0.1.0"


class MinGRUCell(Cell):
    r"""minGRU ("Were RNNs All We Needed?", Feng et al. 2024, sequential mode).

    One step::

        z<t>  = σ(W_z x<t> + b_z)              update gate, from the input alone
        h~<t> = W_h x<t> + b_h                 candidate, linear in the input
        h<t>  = (1 - z<t>) * h<t-1> + z<t> * h~<t>

    Neither z nor h~ depends on h<t-1>, which is what allows the paper's parallel scan;
    here the framework's time loop runs it step by step. Because the input enters only
    through an affine map, the cell declares ``input_proj`` and its step receives
    ``xw = x W_x + b`` with blocks ``GATES = ("z", "h")``: all the cell's weights are
    projected for every time step in one GEMM and it has no recurrent weights at all.

    Parameters: ``W_x`` (D, 2H), ``b`` (2H,), U(-1/sqrt(H), 1/sqrt(H)); ``z_bias`` shifts the
    initial update-gate bias (negative: start out remembering). State: ``HState(h)``.
    """

    GATES = ("z", "h")

    def __init__(self, input_size: int, hidden_size: int, z_bias: float = 0.0):
        super().__init__(input_size, hidden_size)
        if isinstance(z_bias, bool) or not isinstance(z_bias, (int, float)) or not math.isfinite(z_bias):
            raise ValueError(f"MinGRUCell: z_bias must be a finite number, got {z_bias!r}")
        self.z_bias = float(z_bias)

    def param_specs(self):
        D, H = self.input_size, self.hidden_size
        init = uniform(1 / math.sqrt(H))

        def bias(rng, shape):
            b = init(rng, shape)
            b[:H] += self.z_bias
            return b

        return {"W_x": Param((D, 2 * H), init), "b": Param((2 * H,), bias)}

    def forward(self, params, xw, state):
        H, h_prev = self.hidden_size, state.h
        z = sigmoid(xw[:, :H], out=xw[:, :H])  # in place: xw is ours
        h_tilde = xw[:, H:]
        h = h_prev + z * (h_tilde - h_prev)
        return h, HState(h), (h_prev, xw)

    def backward(self, params, dh, dstate, cache):
        xp, H = xp_of(dh), self.hidden_size
        h_prev, gates = cache
        z, h_tilde = gates[:, :H], gates[:, H:]
        dh = dh + dstate.h
        dxw = xp.empty_like(gates)  # (B, 2H): dL/d [z pre-activation, h~]
        dxw[:, :H] = dh * (h_tilde - h_prev) * z * (1 - z)
        dxw[:, H:] = dh * z
        return dxw, HState(dh * (1 - z)), {}


@dataclass
class MinGRUConfig:
    z_bias: float = 0.0


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("mingru", MinGRUCell, MinGRUConfig)]
