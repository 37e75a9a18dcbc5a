"""minGRU as a seqfw cell: the GRU with gates that read only the input (Feng et al. 2024)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import seqfw
from seqfw.backend import xp_of
from seqfw.cells import Cell, HState, Kernels, Param, sigmoid_of, uniform

__version__ = "0.1.0"
SEQFW_PLUGIN_API = "1.0"  # the seqfw plugin API this module is written for (docs/plugins.md, "Versions")


class MinGRUCell(Cell):
    r"""minGRU ("Were RNNs All We Needed?", Feng et al. 2024, sequential mode).

    One step::

        z<t>  = σ(W_z x<t> + b_z)              update gate, from the input alone
        h~<t> = W_h x<t> + b_h                 candidate, linear in the input
        h<t>  = (1 - z<t>) * h<t-1> + z<t> * h~<t>

    Backward, with d = dL/dh<t> (this step's loss plus what flows back from step t+1)::

        dL/d(W_z x<t> + b_z) = d * (h~<t> - h<t-1>) * z<t> * (1 - z<t>)
        dL/dh~<t>            = d * z<t>
        dL/dh<t-1>           = d * (1 - z<t>)

    (dW_x, db and dx follow from these two blocks of dL/dxw in the framework's GEMMs.)

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

        # blocks name the fused columns, so that the conformance kit can say which gate a wrong gradient is in
        return {"W_x": Param((D, 2 * H), init, blocks=self.GATES), "b": Param((2 * H,), bias, blocks=self.GATES)}

    def forward(self, params, xw, state):
        H, h_prev = self.hidden_size, state.h
        z, h = MINGRU_MATH.on(xp_of(xw)).forward(xw[:, :H], xw[:, H:], h_prev)
        return h, HState(h), (h_prev, z, xw[:, H:])

    def backward(self, params, dh, dstate, cache):
        xp = xp_of(dh)
        h_prev, z, h_tilde = cache
        da_z, dh_tilde, dh_prev = MINGRU_MATH.on(xp).backward(dh, dstate.h, z, h_tilde, h_prev)
        return xp.concatenate([da_z, dh_tilde], axis=1), HState(dh_prev), {}  # dxw: (B, 2H), blocks z, h


def _math(tanh):
    """The step's elementwise math as plain array code: run as written on NumPy, fused by CuPy into one
    GPU kernel per function (``seqfw.cells.Kernels``)."""
    sigmoid = sigmoid_of(tanh)

    def forward(a_z, h_tilde, h_prev):
        z = sigmoid(a_z)
        return z, h_prev + z * (h_tilde - h_prev)

    def backward(dh, dh_next, z, h_tilde, h_prev):
        d = dh + dh_next  # dL/dh<t>: this step's loss and what flows back from t+1
        return d * (h_tilde - h_prev) * z * (1 - z), d * z, d * (1 - z)

    return {"forward": forward, "backward": backward}


MINGRU_MATH = Kernels("mingru", _math)


@dataclass
class MinGRUConfig:
    z_bias: float = 0.0


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("mingru", MinGRUCell, MinGRUConfig)]
