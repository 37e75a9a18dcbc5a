"""Gated recurrent units: the course's simplified GRU, and the full GRU in its two forms
(Cho, the course's; reset-after, cuDNN's and PyTorch's) as two small classes."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import xp_of
from ..errors import SettingError, check_flag
from ..kernels import Kernels, sigmoid_of
from .base import Cell, HState, Outer, Param, input_grad, uniform


@dataclass
class GRUOptions:
    """The options of ``cell=gru`` (their defaults are the constructor's)."""

    reset_after: bool = False  # true: the cuDNN/PyTorch form


def _math(tanh):
    sig = sigmoid_of(tanh)

    def update(z, n, c_prev):  # c<t> = Γu * c~ + (1 - Γu) * c<t-1>
        return c_prev + z * (n - c_prev)

    def simple_forward(az, an, c_prev):
        z, n = sig(az), tanh(an)
        return z, n, update(z, n, c_prev)

    def update_backward(dy, dc_next, z, n, c_prev):  # -> δz, δn, the direct part of dL/dc<t-1>
        dc = dy + dc_next
        return dc * (n - c_prev) * z * (1 - z), dc * z * (1 - n * n), dc * (1 - z)

    def cho_gates(ar, az, c_prev):  # -> Γr, Γu, Γr * c<t-1>
        r = sig(ar)
        return r, sig(az), r * c_prev

    def cho_candidate(an, z, c_prev):
        n = tanh(an)
        return n, update(z, n, c_prev)

    def cho_reset_backward(drc, r, c_prev, dc_direct):  # -> δr, dL/dc<t-1> so far
        return drc * c_prev * r * (1 - r), dc_direct + drc * r

    def reset_after_forward(xr, xz, xn, hr, hz, hn, b_hn, c_prev):
        r, z = sig(xr + hr), sig(xz + hz)
        hn = hn + b_hn
        n = tanh(xn + r * hn)
        return r, z, n, hn, update(z, n, c_prev)

    def reset_after_backward(dy, dc_next, r, z, n, hn, c_prev):
        dc = dy + dc_next
        dgn = dc * z * (1 - n * n)
        return dgn * hn * r * (1 - r), dc * (n - c_prev) * z * (1 - z), dgn, dgn * r, dc * (1 - z)

    return {"simple_forward": simple_forward, "update_backward": update_backward, "cho_gates": cho_gates,
            "cho_candidate": cho_candidate, "cho_reset_backward": cho_reset_backward,
            "reset_after_forward": reset_after_forward, "reset_after_backward": reset_after_backward}


GRU_MATH = Kernels("gru", _math)


class GRUSimpleCell(Cell):
    r"""The simplified GRU of the course: a memory cell with an update gate Γu only.

    One step, course notation (c<t> = a<t> is both the memory and the output)::

        c~<t> = tanh(W_c [c<t-1>, x<t>] + b_c)        candidate memory
        Γu    = σ(W_u [c<t-1>, x<t>] + b_u)           update gate
        c<t>  = Γu * c~<t> + (1 - Γu) * c<t-1>

    Backward, with dc = dL/dc<t> (the loss's own plus what flows back from t+1)::

        δu  = dc * (c~<t> - c<t-1>) * Γu (1 - Γu)       δc~ = dc * Γu * (1 - c~<t>²)
        dL/dc<t-1> = dc * (1 - Γu) + W_h δ               dL/dW_h += c<t-1>^T δ,  δ = [δu, δc~]

    x<t> (B, D), c<t> (B, H); ``*`` is the elementwise product. The product
    ``W [c, x]`` is split as ``c @ W_h + x @ W_x``. Packed gate order
    ``GATES = ("z", "n")``: z = Γu, n = c~ (PyTorch's names for the same roles).
    Parameters: ``W_x`` (D, 2H), ``W_h`` (H, 2H), ``b`` (2H,), all
    U(-1/sqrt(H), 1/sqrt(H)). State: ``HState(h)`` with h = c<t>.

    Course layout (``seqfw.engine.layouts``): z -> ``Wu``, ``bu``; n -> ``Wc``, ``bc``.
    """

    GATES = ("z", "n")
    COURSE_NAMES = {"z": "u", "n": "c"}  # gate block -> course letter, in the course's order
    COURSE_VECTORS: dict = {}  # extra (H,) parameter -> its course name, as an (H, 1) column

    def param_specs(self):
        D, H = self.input_size, self.hidden_size
        init = uniform(1 / math.sqrt(H))
        g = self.GATES  # [z | n] along the last axis, as forward slices them
        return {"W_x": Param((D, 2 * H), init, blocks=g), "W_h": Param((H, 2 * H), init, blocks=g),
                "b": Param((2 * H,), init, blocks=g)}

    def forward(self, params, xw, state):
        H, c_prev = self.hidden_size, state.h
        gates = xw  # (B, 2H), ours to overwrite
        gates += c_prev @ params["W_h"]
        z, n, c = GRU_MATH.on(xp_of(xw)).simple_forward(gates[:, :H], gates[:, H:], c_prev)
        return c, HState(c), (c_prev, z, n)

    def backward(self, params, dc, dstate, cache):
        c_prev, z, n = cache
        xp = xp_of(dc)
        dgz, dgn, dc_prev = GRU_MATH.on(xp).update_backward(dc, dstate.h, z, n, c_prev)
        dg = xp.concatenate((dgz, dgn), axis=1)  # (B, 2H): δ = [δu, δc~]
        dc_prev += input_grad(dg, params["W_h"])
        return dg, HState(dc_prev), {"W_h": Outer(c_prev, dg)}


class GRUCell(Cell):
    r"""The full GRU with a relevance gate Γr, in the course/Cho et al. (2014) form.

    Γr gates c<t-1> *before* the product with the candidate's recurrent weights::

        Γr    = σ(W_r [c<t-1>, x<t>] + b_r)                 relevance (reset) gate
        Γu    = σ(W_u [c<t-1>, x<t>] + b_u)                 update gate
        c~<t> = tanh(W_c [Γr * c<t-1>, x<t>] + b_c)         candidate memory
        c<t>  = Γu * c~<t> + (1 - Γu) * c<t-1>

    Backward, with dc = dL/dc<t> and W_hr, W_hu, W_hc the blocks of ``W_h``::

        δc~ = dc * Γu * (1 - c~²)          δu = dc * (c~ - c<t-1>) * Γu (1 - Γu)
        d(Γr*c<t-1>) = W_hc δc~            δr = d(Γr*c<t-1>) * c<t-1> * Γr (1 - Γr)
        dL/dc<t-1> = dc (1 - Γu) + d(Γr*c<t-1>) * Γr + W_hr δr + W_hu δu
        dL/dW_h += [c<t-1>^T δr, c<t-1>^T δu, (Γr*c<t-1>)^T δc~]

    ``reset_after=True`` builds a ``GRUResetAfterCell`` (cuDNN's and PyTorch's form).

    Packed gate order ``GATES = ("r", "z", "n")`` with z = Γu and n = c~.
    Parameters: ``W_x`` (D, 3H), ``W_h`` (H, 3H), ``b`` (3H,), all U(-1/sqrt(H), 1/sqrt(H)).
    State: ``HState(h)`` with h = c<t>.

    Course layout (``seqfw.engine.layouts``): r -> ``Wr``, ``br``; z -> ``Wu``, ``bu``; n -> ``Wc``, ``bc``.
    """

    GATES = ("r", "z", "n")
    COURSE_NAMES = {"r": "r", "z": "u", "n": "c"}  # gate block -> course letter, in the course's order
    COURSE_VECTORS: dict = {}  # extra (H,) parameter -> its course name, as an (H, 1) column
    reset_after = False

    def __new__(cls, *args, **kwargs):
        # the option picks the class, so that each form's step is written once, without a per-step test;
        # a subclass (a plugin's cell, with options of its own) is built as itself
        if cls is GRUCell and kwargs.get("reset_after", args[2] if len(args) > 2 else GRUOptions.reset_after) is True:
            cls = GRUResetAfterCell
        return super().__new__(cls)

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = GRUOptions.reset_after):
        super().__init__(input_size, hidden_size)
        if check_flag("GRUCell", "reset_after", reset_after) is not self.reset_after:  # a subclass's class is its form
            raise SettingError(type(self).__name__, "reset_after", reset_after,
                               f"must be {self.reset_after} for this class (derive from GRUResetAfterCell for that form)")

    def param_specs(self):
        D, H = self.input_size, self.hidden_size
        init = uniform(1 / math.sqrt(H))
        g = self.GATES  # [r | z | n] along the last axis in both forms (reset-after's b_hn is its own (H,))
        return {"W_x": Param((D, 3 * H), init, blocks=g), "W_h": Param((H, 3 * H), init, blocks=g),
                "b": Param((3 * H,), init, blocks=g)}

    def forward(self, params, xw, state):
        H, c_prev, W_h = self.hidden_size, state.h, params["W_h"]
        k = GRU_MATH.on(xp_of(xw))
        gates = xw  # (B, 3H): [r, z, n] pre-activations, ours to overwrite
        gates[:, : 2 * H] += c_prev @ W_h[:, : 2 * H]
        r, z, rc = k.cho_gates(gates[:, :H], gates[:, H : 2 * H], c_prev)
        an = gates[:, 2 * H :]
        an += rc @ W_h[:, 2 * H :]
        n, c = k.cho_candidate(an, z, c_prev)
        return c, HState(c), (c_prev, r, z, n, rc)

    def backward(self, params, dc, dstate, cache):
        c_prev, r, z, n, rc = cache
        xp, H, W_h = xp_of(dc), self.hidden_size, params["W_h"]
        k = GRU_MATH.on(xp)
        dgz, dgn, dc_direct = k.update_backward(dc, dstate.h, z, n, c_prev)
        drc = dgn @ W_h[:, 2 * H :].T  # (B, H): d(Γr * c<t-1>)
        dgr, dc_prev = k.cho_reset_backward(drc, r, c_prev, dc_direct)
        drz = xp.concatenate((dgr, dgz), axis=1)
        dc_prev += input_grad(drz, W_h[:, : 2 * H])
        dW_h = xp.concatenate((c_prev.T @ drz, rc.T @ dgn), axis=1)  # two products: no single Outer
        return xp.concatenate((drz, dgn), axis=1), HState(dc_prev), {"W_h": dW_h}


class GRUResetAfterCell(GRUCell):
    r"""The GRU in cuDNN's and PyTorch's form: Γr gates the *result* of the recurrent
    product, which has its own bias b_hn::

        c~<t> = tanh(W_xc x<t> + b_c + Γr * (W_hc c<t-1> + b_hn))

    (Γr and Γu as ``GRUCell``). Backward, with hn = W_hc c<t-1> + b_hn::

        δc~ = dc * Γu * (1 - c~²)      δr = δc~ * hn * Γr (1 - Γr)      dhn = δc~ * Γr
        dL/dc<t-1> = dc (1 - Γu) + W_h [δr, δu, dhn]
        dL/dW_h += c<t-1>^T [δr, δu, dhn],   dL/db_hn = Σ_b dhn

    PyTorch writes the update as h = (1 - z) * n + z * h_prev, so its z is 1 - Γu: its
    z-block weights and biases are the negatives of ours (``seqfw.engine.interop`` converts).
    Parameters: as ``GRUCell`` plus ``b_hn`` (H,). Course layout: as ``GRUCell`` plus ``bhc`` (H, 1)
    for ``b_hn`` (the course itself teaches only the Cho form; the name is seqfw's).
    """

    reset_after = True
    COURSE_VECTORS = {"b_hn": "bhc"}

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = True):
        super().__init__(input_size, hidden_size, reset_after)

    def param_specs(self):
        return {**super().param_specs(), "b_hn": Param((self.hidden_size,), uniform(1 / math.sqrt(self.hidden_size)))}

    def forward(self, params, xw, state):
        H, c_prev = self.hidden_size, state.h
        hw = c_prev @ params["W_h"]  # (B, 3H)
        r, z, n, hn, c = GRU_MATH.on(xp_of(xw)).reset_after_forward(
            *(a[:, j * H : (j + 1) * H] for a in (xw, hw) for j in range(3)), params["b_hn"], c_prev)
        return c, HState(c), (c_prev, r, z, n, hn)

    def backward(self, params, dc, dstate, cache):
        c_prev, r, z, n, hn = cache
        xp = xp_of(dc)
        dgr, dgz, dgn, dhn, dc_prev = GRU_MATH.on(xp).reset_after_backward(dc, dstate.h, r, z, n, hn, c_prev)
        dhw = xp.concatenate((dgr, dgz, dhn), axis=1)  # dL/d(c<t-1> W_h + [0, 0, b_hn])
        dc_prev += input_grad(dhw, params["W_h"])
        return (xp.concatenate((dgr, dgz, dgn), axis=1), HState(dc_prev),
                {"W_h": Outer(c_prev, dhw), "b_hn": dhn.sum(axis=0)})
