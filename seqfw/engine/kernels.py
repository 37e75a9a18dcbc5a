"""A cell's elementwise math, written once, evaluated the best way each backend allows.

A cell step is a few matrix products and, between them, a dozen or so elementwise
operations on (B, H) blocks (the gate activations and their derivatives). The cells write
that elementwise math once, as plain array code in functions built by a factory that is
handed the array module's ``tanh``::

    LSTM_MATH = Kernels("lstm", lambda tanh: {"forward": ..., "backward": ...})
    k = LSTM_MATH.on(xp)            # once per array module, cached
    i, f, g, o, c, tc, h = k.forward(ai, af, ag, ao, c_prev)

Three executors run the same functions:

- NumPy runs them as written, one ufunc pass per operation: the reference, and the default
  without Numba.
- With Numba installed (``pip install 'seqfw[fast]'``), ``seqfw.engine.compiled`` compiles each
  one that is pure arithmetic (the backward passes) into a single loop over the block's entries
  (those calling tanh stay NumPy's: its vectorised tanh was faster, measured);
  ``SEQFW_NO_COMPILED=1`` runs the NumPy reference instead.
- On CuPy every elementwise operation would be a kernel launch reading and writing the whole
  block, so each function is traced by ``cupy.fuse`` into one kernel (compiled once per process
  and dtype); ``SEQFW_NO_FUSED=1`` runs them unfused there, to measure or rule a kernel out.

The math is the same code every way, so the tests on one executor check what the others run
(and the engine's tests run on both CPU executors).

σ(x) is written ½·tanh(½x) + ½: exact, overflow-free and one transcendental per entry.
"""
from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Callable

import numpy as np

from . import compiled


def sigmoid_of(tanh: Callable) -> Callable:
    """σ written through ``tanh`` (usable inside a fused kernel)."""
    def sigmoid(x):
        return 0.5 * tanh(0.5 * x) + 0.5

    return sigmoid


class Kernels:
    """Elementwise functions built by ``build(tanh) -> {name: function}``, per array module."""

    def __init__(self, name: str, build: Callable[[Callable], dict]):
        self.name, self.build = name, build
        self._by_module: dict = {}

    def on(self, xp) -> SimpleNamespace:
        """The functions for arrays of module ``xp`` (numpy or cupy), built on first use."""
        if xp is np:
            key = ("numpy", compiled.available())
        else:
            key = (xp.__name__, os.environ.get("SEQFW_NO_FUSED") == "1")
        found = self._by_module.get(key)
        if found is None:
            found = self._by_module[key] = SimpleNamespace(**self._make(xp, key[1]))
        return found

    def _make(self, xp, flag: bool) -> dict:
        if xp is np:
            return compiled.executor(self.name, self.build) if flag else self.build(np.tanh)
        functions = self.build(xp.tanh)
        if flag:  # SEQFW_NO_FUSED=1
            return functions
        return {name: xp.fuse(kernel_name=f"seqfw_{self.name}_{name}")(f) for name, f in functions.items()}
