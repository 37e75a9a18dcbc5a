"""A cell's elementwise math, written once, evaluated the best way each backend allows.

A cell step is a few matrix products and, between them, a dozen or so elementwise
operations on (B, H) blocks (the gate activations and their derivatives). The cells write
that elementwise math once, as plain array code in functions built by a factory that is
handed the array module's ``tanh``::

    LSTM_MATH = Kernels("lstm", lambda tanh: {"forward": ..., "backward": ...})
    k = LSTM_MATH.on(xp)            # once per array module, cached
    i, f, g, o, c, tc, h = k.forward(ai, af, ag, ao, c_prev)

On NumPy the functions run as written. On CuPy every elementwise operation would be a
kernel launch reading and writing the whole block, so each function is traced by
``cupy.fuse`` into one kernel (compiled once per process and dtype); ``SEQFW_NO_FUSED=1``
runs them unfused there, to measure or rule a kernel out. The math is the same code
either way, so the NumPy tests check what the GPU runs.

σ(x) is written ½·tanh(½x) + ½: exact, overflow-free and one transcendental per entry.
"""
from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Callable

import numpy as np


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
        key = (xp.__name__, xp is not np and os.environ.get("SEQFW_NO_FUSED") == "1")
        found = self._by_module.get(key)
        if found is None:
            found = self._by_module[key] = SimpleNamespace(**self._make(xp, fuse=xp is not np and not key[1]))
        return found

    def _make(self, xp, fuse: bool) -> dict:
        functions = self.build(xp.tanh)
        if not fuse:
            return functions
        return {name: xp.fuse(kernel_name=f"seqfw_{self.name}_{name}")(f) for name, f in functions.items()}
