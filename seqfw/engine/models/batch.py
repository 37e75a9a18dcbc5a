"""What a model trains on: one padded, time-major batch."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import Backend
from ..errors import DtypeError


class Batch(NamedTuple):
    """A padded, time-major batch: inputs (T, B) ids or (T, B, D) features, targets (T, B[, K])
    per step or (B[, K]) per sequence, lengths (B,). An encoder–decoder batch adds the decoder's
    teacher-forced inputs (T_y, B) and the target lengths."""

    inputs: np.ndarray
    targets: np.ndarray
    lengths: np.ndarray
    decoder_inputs: np.ndarray | None = None
    target_lengths: np.ndarray | None = None

    def to(self, xp, dtype=None) -> "Batch":
        """On the backend's device; float arrays in the backend's dtype, ids stay integers.

        ``batch.to(be)`` (a ``Backend``) or ``batch.to(xp, dtype)``; the dtype has no default.
        """
        if isinstance(xp, Backend):
            xp, dtype = xp.xp, xp.dtype
        elif dtype is None:
            raise DtypeError("Batch.to: no dtype given. A batch's float arrays take the backend's dtype: "
                             "`batch.to(be)` with `be = get_backend(..., dtype=...)`, or `batch.to(xp, dtype)`.")

        def move(a):
            return xp.asarray(a, dtype=dtype) if np.issubdtype(a.dtype, np.floating) else xp.asarray(a)

        return Batch(*(None if a is None else move(a) for a in self))

    def window(self, steps: slice, lengths) -> "Batch":
        """Time steps ``steps`` of a per-step batch, with each sequence's ``lengths`` inside them (TBPTT)."""
        return self._replace(inputs=self.inputs[steps], targets=self.targets[steps], lengths=lengths)


def host_lengths(lengths, T: int, B: int) -> np.ndarray:
    """Each of ``B`` sequences' lengths on the host; ``T`` for all when ``lengths`` is None (no padding)."""
    from ..backend import to_host

    return np.full(B, T) if lengths is None else np.asarray(to_host(lengths))
