"""Deep (stacked) recurrent networks of any cell, uni- or bidirectional."""
from __future__ import annotations

from typing import Callable, NamedTuple

from ..backend import Array, xp_of
from ..cells.base import Cell, init_args, state_args
from ..errors import check_count, check_float_input, check_number, check_same_dtype
from ..tree import first_leaf, tree_map
from .bidirectional import STEP_REFUSAL, Bidirectional
from .step import check_backward_dtypes, check_step_dtypes
from .unroll import Unidirectional, length_mask


class StackedCache(NamedTuple):
    """What ``Stacked.backward`` (and ``Stacked.states``) read back from a forward pass."""

    layers: list  # each layer's cache
    drops: list  # each layer's dropout mask (on its input), or None
    batch_first: bool  # the caller's layout: dy comes in, dx and the norms go out, in it


class Stacked:
    """Layers fed one into the next: a^[l]<t> from a^[l-1]<t> and a^[l]<t-1>::

        h = x
        for l, layer in enumerate(layers):
            h = dropout(h, p) if l > 0 and training else h    # inverted dropout between layers
            h, state[l] = layer(h, state[l])                  # y: (T, B, H or 2H)

    Params ``{"layers": [layer params, ...]}``; state a list of per-layer
    ``{"fwd": ..., "bwd": ...}`` dicts, each direction the cell's state NamedTuple of (B, H) arrays.

    - ``init_params(be)`` / ``initial_state(batch, be)``: in the backend's module and dtype (the
      old ``(rng, xp, dtype)`` / ``(batch, xp, dtype)`` forms need the dtype: there is no default).
    - ``forward(params, x, lengths, state)`` -> ``(y, final states, cache)`` over a whole sequence,
      ``backward(params, dy, dstate, cache)`` -> ``(dx, dstate0, grads, norms)``. ``x`` (T, B, D)
      time-major, or (B, T, D) with ``batch_first=True``: then y, dy, dx are batch-first too and the
      norms (B, T); the same numbers as the time-major call, transposed.
    - ``keep_states=True`` keeps the state after every step: ``states(cache)``.
    - ``step(params, x_t, state)`` / ``step_backward(params, dy_t, dstate, cache)``: one time step
      by hand through every layer (unidirectional networks only; no dropout).

    Float inputs, given states and parameters must share one dtype (``DtypeError``, checked once
    per call); integer inputs are not the network's business.
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

    def init_params(self, rng, xp=None, dtype=None, *, seed: int | None = None) -> dict:
        """``init_params(be)`` (drawn from ``be.host_rng(seed)``, in ``be.xp`` and ``be.dtype``) or
        ``init_params(rng, xp, dtype)``; one generator for all layers, bottom first."""
        rng, xp, dtype = init_args("Stacked.init_params", rng, xp, dtype, seed)
        return {"layers": [layer.init_params(rng, xp, dtype) for layer in self.layers]}

    def initial_state(self, batch: int, xp=None, dtype=None) -> list:
        """Zeros: ``initial_state(batch, be)`` or ``initial_state(batch, xp, dtype)``."""
        xp, dtype = state_args("Stacked.initial_state", xp, dtype)
        return [layer.initial_state(batch, xp, dtype) for layer in self.layers]

    # -- whole sequences ---------------------------------------------------------------------------
    def forward(self, params, x: Array, lengths: Array | None = None, state: list | None = None,
                train: bool = False, noise: Callable[[tuple], Array] | None = None, keep_states: bool = False,
                batch_first: bool = False):
        """``x`` (T, B, D), ``lengths`` (B,) or None -> ``(y (T, B, H_out), final states, cache)``.

        ``noise(shape)`` draws U[0, 1) for dropout masks (``Backend.random``); it
        is needed only when training with dropout > 0. ``keep_states``: keep every step's state
        for ``states(cache)``. ``batch_first``: ``x`` (B, T, D) and ``y`` (B, T, H_out).
        """
        check_float_input("Stacked.forward", x)
        check_same_dtype("Stacked.forward", ("the parameters are", params), ("the inputs x are", x),
                         ("the initial state is", state))
        xp = xp_of(x)
        if batch_first:
            x = xp.ascontiguousarray(x.swapaxes(0, 1))
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
            h, final, cache = layer.forward(params["layers"][l], h, state[l], lengths, mask, keep_states)
            finals.append(final)
            caches.append(cache)
            drops.append(drop)
        return (h.swapaxes(0, 1) if batch_first else h), finals, StackedCache(caches, drops, batch_first)

    def backward(self, params, dys: Array | None, dstate: list | None, cache: StackedCache, step_norms: bool = False):
        """-> ``(dx, dstate0, grads, norms)``; ``norms[l][direction]`` is (T, B) ‖∂L/∂a^[l]<t>‖ per
        sequence (0 at padding; the reverse direction's in input order too) or None. After a
        ``batch_first`` forward, ``dys`` and ``dx`` are (B, T, ...) and the norms (B, T)."""
        check_backward_dtypes("Stacked.backward", params, dys, dstate)
        caches, drops, batch_first = cache
        if batch_first and dys is not None:
            dys = xp_of(dys).ascontiguousarray(dys.swapaxes(0, 1))
        dstate = dstate or [None] * len(self.layers)
        grads, dstate0, norms = [None] * len(self.layers), [None] * len(self.layers), [None] * len(self.layers)
        dh = dys
        for l in reversed(range(len(self.layers))):
            dh, dstate0[l], grads[l], norms[l] = self.layers[l].backward(
                params["layers"][l], dh, dstate[l], caches[l], step_norms)
            if drops[l] is not None:
                dh = dh * drops[l].astype(dh.dtype)
        if batch_first:
            dh = dh.swapaxes(0, 1)
            norms = [{d: None if n is None else n.T for d, n in layer.items()} for layer in norms]
        return dh, dstate0, {"layers": grads}, norms

    def states(self, cache: StackedCache) -> list:
        """The state after every step, from a ``forward(..., keep_states=True)``: per layer, per direction,
        the cell's state NamedTuple of (T, B, H) arrays ((B, T, H) after a ``batch_first`` forward);
        for the LSTM both a<t> and c<t>.

        ``states[l][d].h[t]`` is a^[l]<t>, the reverse direction's in input order (its state after
        reading x<L-1> .. x<t>). At a padded step a row holds its carried state, which is its final
        state (the forward direction's state after its last real step, the reverse one's after x<0>).
        """
        out = [layer.states(c) for layer, c in zip(self.layers, cache.layers)]
        if first_leaf(out) is None:
            raise ValueError("Stacked.states: this forward pass kept no per-step states; run "
                             "`net.forward(..., keep_states=True)` to keep them (off by default: they cost T states "
                             "of memory per layer and direction)")
        if cache.batch_first:
            out = tree_map(lambda a: a.swapaxes(0, 1), out)
        return out

    # -- one step by hand ----------------------------------------------------------------------------
    def step(self, params, x_t: Array, state: list | None = None):
        """One time step through every layer: ``x_t`` (B, D), ``state`` as ``forward``'s (None, or a None
        layer or direction: zeros) -> ``(y_t (B, H_out), new state, cache)``.

        ``T`` calls from ``state`` give ``forward``'s outputs and final state (``step(cell, ...)`` in
        ``recurrence.step`` per layer). No dropout, whatever ``self.dropout``: stepping is inference
        (or a hand-written loop that draws its own masks). Bidirectional layers are refused.
        """
        self._check_steppable("Stacked.step")
        check_step_dtypes("Stacked.step", params, x_t, state)
        state = state or [None] * len(self.layers)
        h, new, caches = x_t, [], []
        for l, layer in enumerate(self.layers):
            h, s, c = layer.step(params["layers"][l], h, state[l])
            new.append(s)
            caches.append(c)
        return h, new, caches

    def step_backward(self, params, dy_t: Array | None, dstate: list | None, cache: list):
        """Back through one ``step``: ``dy_t`` = dL/dy_t (B, H_out), ``dstate`` = dL/d(new state) (None,
        or a None layer or direction: zero) -> ``(dx_t (B, D), dL/d(previous state), grads)``, grads
        dense and in ``params``' tree. Summed over the steps in reverse, they are ``backward``'s."""
        self._check_steppable("Stacked.step_backward")
        check_backward_dtypes("Stacked.step_backward", params, dy_t, dstate)
        dstate = dstate or [None] * len(self.layers)
        grads, dprev = [None] * len(self.layers), [None] * len(self.layers)
        dh = dy_t
        for l in reversed(range(len(self.layers))):
            dh, dprev[l], grads[l] = self.layers[l].step_backward(params["layers"][l], dh, dstate[l], cache[l])
        return dh, dprev, {"layers": grads}

    def _check_steppable(self, where: str) -> None:
        for l, layer in enumerate(self.layers):
            if len(layer.directions) > 1:
                raise ValueError(STEP_REFUSAL.format(where=where, layer=f"layer {l}"))


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
