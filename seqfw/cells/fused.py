"""Fused elementwise gate math for the GPU: one kernel per cell step instead of a dozen.

On CuPy every elementwise operation is a kernel launch that reads and writes the whole
(B, H) block in device memory; an LSTM step written with ufuncs launches ~20 of them,
which dominates the step at the sizes seqfw trains (the GEMMs are fast on a GPU).
``cupy.fuse`` traces the plain functions below into one kernel each.

The functions are ordinary array code, so the very same bodies run on NumPy too: the
tests run whole networks through them on the CPU (``everywhere()``) and compare with the
in-place NumPy path and with finite differences; the GPU adds only the tracing. On NumPy
the cells keep their in-place path by default, which is faster there (no temporaries).
``SEQFW_NO_FUSED=1`` turns the kernels off on CuPy (the ufunc path), to measure or rule them out.

Notation as in the cells: pre-activations a*, gates i f g o (LSTM), r z n (GRU);
σ(x) = ½·tanh(½x) + ½ (one transcendental, no overflow).
"""
from __future__ import annotations

import contextlib
import functools
import os
from types import SimpleNamespace

import numpy as np


def _math(tanh) -> dict:
    def sig(x):
        return 0.5 * tanh(0.5 * x) + 0.5

    def lstm_forward(ai, af, ag, ao, c_prev):
        i, f, g, o = sig(ai), sig(af), tanh(ag), sig(ao)
        c = f * c_prev + i * g
        tc = tanh(c)
        return i, f, g, o, c, tc, o * tc

    def lstm_backward(dy, dh_next, dc_next, i, f, g, o, c_prev, tc):
        dh = dy + dh_next
        dgo = dh * tc * o * (1 - o)
        dc = dh * o * (1 - tc * tc) + dc_next
        return dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g), dgo, dc * f

    def gru_forward(xr, xz, xn, hr, hz, hn, b_hn, c_prev):  # reset_after (cuDNN) form
        r, z = sig(xr + hr), sig(xz + hz)
        hn = hn + b_hn
        n = tanh(xn + r * hn)
        return r, z, n, hn, c_prev + z * (n - c_prev)

    def gru_backward(dy, dc_next, r, z, n, hn, c_prev):
        dc = dy + dc_next
        dgn = dc * z * (1 - n * n)
        return dgn * hn * r * (1 - r), dc * (n - c_prev) * z * (1 - z), dgn, dgn * r, dc * (1 - z)

    def tanh_backward(dy, da_next, a):
        return (dy + da_next) * (1 - a * a)

    return {f.__name__: f for f in (lstm_forward, lstm_backward, gru_forward, gru_backward, tanh_backward)}


_forced = False


@contextlib.contextmanager
def everywhere():
    """Use the fused-path math on NumPy too (tests: the same code the GPU traces)."""
    global _forced
    before, _forced = _forced, True
    try:
        yield
    finally:
        _forced = before


def plain() -> SimpleNamespace:
    """The NumPy bodies (a backward step whose forward ran fused finishes on the same math)."""
    return _numpy()


def kernels(xp) -> SimpleNamespace | None:
    """The fused functions for array module ``xp``, or None where the cells' in-place path is used."""
    if xp is np:
        return _numpy() if _forced else None
    if os.environ.get("SEQFW_NO_FUSED") == "1":  # the unfused CuPy path, to compare or to rule a kernel out
        return None
    return _cupy(xp)


@functools.lru_cache(maxsize=None)
def _numpy() -> SimpleNamespace:
    return SimpleNamespace(**_math(np.tanh))


@functools.lru_cache(maxsize=None)
def _cupy(cp) -> SimpleNamespace:
    # fused once per process: cupy caches the compiled kernel per decorated function and dtypes
    return SimpleNamespace(**{name: cp.fuse(kernel_name=f"seqfw_{name}")(f) for name, f in _math(cp.tanh).items()})
