"""Deep (stacked) recurrent networks of any cell, uni- or bidirectional."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..backend import Array, xp_of
from ..cells.base import Cell
from ..errors import check_count, check_number
from .bidirectional import Bidirectional
from .unroll import Unidirectional, length_mask


class Stacked:
    """Layers fed one into the next: a^[l]<t> from a^[l-1]<t> and a^[l]<t-1>::

        h = x
        for l, layer in enumerate(layers):
            h = dropout(h, p) if l > 0 and training else h    # inverted dropout between layers
            h, state[l] = layer(h, state[l])                  # y: (T, B, H or 2H)

    Params ``{"layers": [layer params, ...]}``; state a list of per-layer
    ``{"fwd": ..., "bwd": ...}`` dicts.
    """

    def __init__(self, layers: list, dropout: float = 0.0):
        check_count("Stacked", "num_layers", len(layers))
        self.dropout = check_number("Stacked", "dropout", dropout, 0.0, 1.0, high_open=True)
        for below, above in zip(layers, layers[1:]):
            if above.input_size != below.output_size:
                raise ValueError(f"Stacked: a layer of output size {below.output_size} feeds one of input size {above.input_size}")
        self.layers = layers
        self.input_size = layers[0].input_size
        self.output_size = layers[-1].output_size

    def init_params(self, rng: np.random.Generator, xp=np, dtype=np.float32) -> dict:
        return {"layers": [layer.init_params(rng, xp, dtype) for layer in self.layers]}

    def initial_state(self, batch: int, xp=np, dtype=np.float32) -> list:
        return [layer.initial_state(batch, xp, dtype) for layer in self.layers]

    def forward(self, params, x: Array, lengths: Array | None = None, state: list | None = None,
                train: bool = False, noise: Callable[[tuple], Array] | None = None):
        """``x`` (T, B, D), ``lengths`` (B,) or None -> ``(y (T, B, H_out), final states, cache)``.

        ``noise(shape)`` draws U[0, 1) for dropout masks (``Backend.random``); it
        is needed only when training with dropout > 0.
        """
        xp = xp_of(x)
        T, B, _ = x.shape
        if state is None:
            state = self.initial_state(B, xp, x.dtype)
        mask = length_mask(lengths, T, xp)
        h, finals, caches, drops = x, [], [], []
        for l, layer in enumerate(self.layers):
            drop = None
            if l > 0 and train and self.dropout > 0:
                if noise is None:
                    raise ValueError("Stacked.forward: dropout during training needs a noise source (Backend.random)")
                drop = (noise(h.shape) >= self.dropout) * (1.0 / (1.0 - self.dropout))
                h = h * drop.astype(h.dtype)
            h, final, cache = layer.forward(params["layers"][l], h, state[l], lengths, mask)
            finals.append(final)
            caches.append(cache)
            drops.append(drop)
        return h, finals, (caches, drops)

    def backward(self, params, dys: Array | None, dstate: list | None, cache, step_norms: bool = False):
        """-> ``(dx, dstate0, grads, norms)``; ``norms[l][direction]`` is (T, B) ‖∂L/∂a^[l]<t>‖ per
        sequence (0 at padding; the reverse direction's in input order too) or None."""
        caches, drops = cache
        dstate = dstate or [None] * len(self.layers)
        grads, dstate0, norms = [None] * len(self.layers), [None] * len(self.layers), [None] * len(self.layers)
        dh = dys
        for l in reversed(range(len(self.layers))):
            dh, dstate0[l], grads[l], norms[l] = self.layers[l].backward(
                params["layers"][l], dh, dstate[l], caches[l], step_norms)
            if drops[l] is not None:
                dh = dh * drops[l].astype(dh.dtype)
        return dh, dstate0, {"layers": grads}, norms


def stack(make_cell: Callable[[int, int], Cell], input_size: int, hidden_size: int, num_layers: int = 1,
          bidirectional: bool = False, dropout: float = 0.0) -> Stacked:
    """A ``Stacked`` network of ``num_layers`` layers of cells ``make_cell(input_size, hidden_size)``.

    The engine takes a cell factory, never a name: ``seqfw.recurrent("lstm", ...)`` looks the
    name up in the plugin registry and calls this.
    """
    check_count("stack", "num_layers", num_layers)
    layers, size = [], input_size
    for _ in range(num_layers):
        if bidirectional:
            layer = Bidirectional(make_cell(size, hidden_size), make_cell(size, hidden_size))
        else:
            layer = Unidirectional(make_cell(size, hidden_size))
        layers.append(layer)
        size = layer.output_size
    return Stacked(layers, dropout)
