"""Helpers shared by everything that generates tokens one at a time (greedy, beam, sampling)."""
from __future__ import annotations

import numpy as np


def extend_unfinished(out: list, done: np.ndarray, tokens: np.ndarray, eos: int) -> None:
    """Append each unfinished sequence's new token, or mark it finished at ``<eos>`` (not appended)."""
    for b in np.flatnonzero(~done):
        if tokens[b] == eos:
            done[b] = True
        else:
            out[b].append(int(tokens[b]))


def log_softmax_rows(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, in float64 on the host (stable: the row maximum is subtracted)."""
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
