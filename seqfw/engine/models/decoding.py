"""Helpers shared by everything that generates tokens one at a time (greedy, beam, sampling)."""
from __future__ import annotations

import numpy as np

from ..functional import log_softmax


def extend_unfinished(out: list, done: np.ndarray, tokens: np.ndarray, eos: int) -> None:
    """Append each unfinished sequence's new token, or mark it finished at ``<eos>`` (not appended)."""
    for b in np.flatnonzero(~done):
        if tokens[b] == eos:
            done[b] = True
        else:
            out[b].append(int(tokens[b]))


def log_softmax_rows(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, in float64 on the host (``functional.log_softmax``): scores of
    beams summed over many steps need the precision whatever the run's dtype."""
    return log_softmax(np.asarray(z, dtype=np.float64))
