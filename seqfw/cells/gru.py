"""Gated recurrent units: the course's simplified GRU and the full GRU (Cho or cuDNN form)."""
from __future__ import annotations

import math

from ..backend import xp_of
from . import fused
from .base import Cell, HState, Outer, Param, sigmoid, uniform


class GRUSimpleCell(Cell):
    r"""The simplified GRU of the course: a memory cell with an update gate Γu only.

    One step, course notation (c<t> = a<t> is both the memory and the output)::

        c~<t> = tanh(W_c [c<t-1>, x<t>] + b_c)        candidate memory
        Γu    = σ(W_u [c<t-1>, x<t>] + b_u)           update gate
        c<t>  = Γu * c~<t> + (1 - Γu) * c<t-1>

    x<t> (B, D), c<t> (B, H); ``*`` is the elementwise product. The product
    ``W [c, x]`` is split as ``c @ W_h + x @ W_x``. Packed gate order
    ``GATES = ("z", "n")``: z = Γu, n = c~ (PyTorch's names for the same roles).
    Parameters: ``W_x`` (D, 2H), ``W_h`` (H, 2H), ``b`` (2H,), all
    U(-1/sqrt(H), 1/sqrt(H)). State: ``HState(h)`` with h = c<t>.
    """

    GATES = ("z", "n")
    outer_grads = True

    def param_specs(self):
        D, H = self.input_size, self.hidden_size
        init = uniform(1 / math.sqrt(H))
        return {"W_x": Param((D, 2 * H), init), "W_h": Param((H, 2 * H), init), "b": Param((2 * H,), init)}

    def forward(self, params, xw, state):
        xp, H = xp_of(xw), self.hidden_size
        c_prev = state.h
        gates = xw  # (B, 2H), ours to overwrite
        gates += c_prev @ params["W_h"]
        z = sigmoid(gates[:, :H], out=gates[:, :H])
        n = xp.tanh(gates[:, H:], out=gates[:, H:])
        c = c_prev + z * (n - c_prev)
        return c, HState(c), (c_prev, gates)

    def backward(self, params, dc, dstate, cache, outer=False):
        c_prev, gates = cache
        xp, H = xp_of(dc), self.hidden_size
        z, n = gates[:, :H], gates[:, H:]
        dc = dc + dstate.h
        dgates = xp.empty_like(gates)  # (B, 2H): dL/d pre-activations [z, n]
        dgates[:, :H] = dc * (n - c_prev) * z * (1 - z)
        dgates[:, H:] = dc * z * (1 - n * n)
        dc_prev = dc * (1 - z) + dgates @ params["W_h"].T
        return dgates, HState(dc_prev), {"W_h": Outer(c_prev, dgates) if outer else c_prev.T @ dgates}


class GRUCell(Cell):
    r"""The full GRU with a relevance gate Γr.

    Course/Cho et al. (2014) form, the default: Γr gates c<t-1> *before* the
    product with the candidate's recurrent weights::

        Γr    = σ(W_r [c<t-1>, x<t>] + b_r)                 relevance (reset) gate
        Γu    = σ(W_u [c<t-1>, x<t>] + b_u)                 update gate
        c~<t> = tanh(W_c [Γr * c<t-1>, x<t>] + b_c)         candidate memory
        c<t>  = Γu * c~<t> + (1 - Γu) * c<t-1>

    ``reset_after=True`` gives the cuDNN/PyTorch form, where Γr gates the
    *result* of the recurrent product, which has its own bias b_hn::

        c~<t> = tanh(W_xc x<t> + b_c + Γr * (W_hc c<t-1> + b_hn))

    PyTorch writes the update as h = (1 - z) * n + z * h_prev, so its z is
    1 - Γu: its z-block weights and biases are the negatives of ours
    (``seqfw.interop.torch`` converts).

    Packed gate order ``GATES = ("r", "z", "n")`` with z = Γu and n = c~.
    Parameters: ``W_x`` (D, 3H), ``W_h`` (H, 3H), ``b`` (3H,), and with
    ``reset_after`` also ``b_hn`` (H,); all U(-1/sqrt(H), 1/sqrt(H)).
    State: ``HState(h)`` with h = c<t>.
    """

    GATES = ("r", "z", "n")
    outer_grads = True  # for W_h in the reset_after form (the Cho form's W_h is two products)

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = False):
        super().__init__(input_size, hidden_size)
        if not isinstance(reset_after, bool):
            raise ValueError(f"GRUCell: reset_after must be true or false, got {reset_after!r}")
        self.reset_after = reset_after

    def param_specs(self):
        D, H = self.input_size, self.hidden_size
        init = uniform(1 / math.sqrt(H))
        specs = {"W_x": Param((D, 3 * H), init), "W_h": Param((H, 3 * H), init), "b": Param((3 * H,), init)}
        if self.reset_after:
            specs["b_hn"] = Param((H,), init)
        return specs

    def forward(self, params, xw, state):
        xp, H = xp_of(xw), self.hidden_size
        c_prev, W_h = state.h, params["W_h"]
        gates = xw  # (B, 3H): [r, z, n] pre-activations, then activations, in place
        k = fused.kernels(xp) if self.reset_after else None
        if k is not None:  # CuPy: one kernel for the gate math (seqfw/cells/fused.py)
            hw = c_prev @ W_h
            r, z, n, hn, c = k.gru_forward(*(a[:, j * H : (j + 1) * H] for a in (gates, hw) for j in range(3)),
                                           params["b_hn"], c_prev)
            return c, HState(c), (c_prev, (r, z, n), hn)
        if self.reset_after:
            hw = c_prev @ W_h  # (B, 3H)
            hn = hw[:, 2 * H :]
            hn += params["b_hn"]
            gates[:, : 2 * H] += hw[:, : 2 * H]
            sigmoid(gates[:, : 2 * H], out=gates[:, : 2 * H])
            r = gates[:, :H]
            gates[:, 2 * H :] += r * hn
            extra = hn
        else:
            gates[:, : 2 * H] += c_prev @ W_h[:, : 2 * H]
            sigmoid(gates[:, : 2 * H], out=gates[:, : 2 * H])
            rc = gates[:, :H] * c_prev  # (B, H): Γr * c<t-1>
            gates[:, 2 * H :] += rc @ W_h[:, 2 * H :]
            extra = rc
        z, n = gates[:, H : 2 * H], xp.tanh(gates[:, 2 * H :], out=gates[:, 2 * H :])
        c = c_prev + z * (n - c_prev)
        return c, HState(c), (c_prev, gates, extra)

    def backward(self, params, dc, dstate, cache, outer=False):
        xp, H = xp_of(dc), self.hidden_size
        c_prev, gates, extra = cache
        W_h = params["W_h"]
        if isinstance(gates, tuple):  # the forward step ran fused (reset_after)
            k = fused.kernels(xp) or fused.plain()
            dgr, dgz, dgn, dhn, dc_prev = k.gru_backward(dc, dstate.h, *gates, extra, c_prev)
            dg = xp.concatenate((dgr, dgz, dgn), axis=1)  # dL/d pre-activations [r, z, n]
            dhw = xp.concatenate((dgr, dgz, dhn), axis=1)  # dL/d (c<t-1> W_h + [0, 0, b_hn])
            dc_prev += dhw @ W_h.T
            return dg, HState(dc_prev), {"W_h": Outer(c_prev, dhw) if outer else c_prev.T @ dhw,
                                         "b_hn": dhn.sum(axis=0)}
        r, z, n = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
        dc = dc + dstate.h
        dg = xp.empty_like(gates)  # (B, 3H): dL/d pre-activations [r, z, n]
        dgn = dg[:, 2 * H :]
        xp.multiply(dc * z, 1 - n * n, out=dgn)
        dg[:, H : 2 * H] = dc * (n - c_prev) * z * (1 - z)
        dc_prev = dc * (1 - z)
        if self.reset_after:
            hn = extra
            dg[:, :H] = dgn * hn * r * (1 - r)
            dhw = dg.copy()
            dhw[:, 2 * H :] = dgn * r  # d(W_hc c + b_hn)
            grads = {"W_h": Outer(c_prev, dhw) if outer else c_prev.T @ dhw, "b_hn": dhw[:, 2 * H :].sum(axis=0)}
            dc_prev += dhw @ W_h.T
        else:
            rc = extra
            drc = dgn @ W_h[:, 2 * H :].T  # (B, H): d(Γr * c<t-1>)
            dg[:, :H] = drc * c_prev * r * (1 - r)
            dc_prev += drc * r + dg[:, : 2 * H] @ W_h[:, : 2 * H].T
            grads = {"W_h": xp.concatenate([c_prev.T @ dg[:, : 2 * H], rc.T @ dgn], axis=1)}
        return dg, HState(dc_prev), grads
