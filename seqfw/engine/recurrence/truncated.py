"""Truncated backpropagation through time: the state flows on, gradients stop every k steps."""
from __future__ import annotations

from typing import Any, Callable

from ..backend import Array, xp_of
from ..errors import check_count
from ..tree import tree_add_


def carry_state(states: list) -> list:
    """One window's final states -> the next window's initial states.

    Forward directions carry their state (as plain values: no gradient crosses the
    window boundary). A reverse direction restarts from its initial state in
    every window, since it cannot read beyond the window's end.
    """
    return [{d: (s if d == "fwd" else None) for d, s in layer.items()} for layer in states]


def truncated_bptt(step: Callable, T: int, k: int, lengths: Array | None = None, state: Any = None):
    """TBPTT(k): split T steps into windows of k and back-propagate within each::

        for start in 0, k, 2k, ...:
            loss_w, grads_w, state = step(slice(start, start + k), lengths_w, state)
            state = carry_state(state)          # values flow on, gradients stop here

    ``step(window, lengths_w, state)`` runs forward and backward on the window
    (``lengths_w`` = each sequence's real steps inside it) and returns its
    ``(loss, grads, final states)``. Returns the summed loss, the summed
    gradients and the last window's final states. k >= T is full BPTT.
    """
    check_count("truncated_bptt", "k", k)
    total, grads = 0.0, None
    for start in range(0, T, k):
        stop = min(start + k, T)
        lw = None
        if lengths is not None:
            lw = xp_of(lengths).clip(lengths - start, 0, stop - start)
            if int(lw.max()) == 0:
                continue  # every sequence has ended: nothing left to learn from
        loss, g, state = step(slice(start, stop), lw, state)
        total += float(loss)
        grads = tree_add_(grads, g)
        state = carry_state(state)
    return total, grads, state
