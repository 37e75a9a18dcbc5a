"""Reading and batching a task's data: a user's files, padding to a batch, the error for bad data."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine.errors import SeqfwError
from ..engine.models import Batch


class DataError(SeqfwError, ValueError):
    """A task's data cannot be used (missing, unreadable, malformed, too small); the message names
    the setting that points at it and the fix."""


def pad_batch(inputs: Sequence[Sequence[int]], targets, pad: int = 0) -> Batch:
    """Sequences of different lengths T_x -> one (T, B) batch padded with ``pad``, plus their lengths.

    ``targets`` are sequences (padded like the inputs) or one value per sequence (kept as an array).
    """
    lengths = np.array([len(s) for s in inputs])
    T, B = int(lengths.max()), len(inputs)
    x = np.full((T, B), pad, dtype=np.int64)
    for b, s in enumerate(inputs):
        x[: len(s), b] = s
    if len(targets) and np.ndim(targets[0]) == 0:
        return Batch(x, np.asarray(targets), lengths)
    y = np.full((T, B), pad, dtype=np.int64)
    for b, t in enumerate(targets):
        y[: len(t), b] = t
    return Batch(x, y, lengths)


def read_text(path: str, key: str = "task.data.path") -> str:
    """A user's corpus file as text, or a DataError (naming the config ``key``) saying what is wrong with it."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise DataError(f"{key}={path!r} is a directory; give a text file")
    if not p.is_file():
        raise DataError(f"{key}={path!r}: no such file (relative paths start at the directory you run from: "
                         f"{Path.cwd()})")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{key}={path!r} is not UTF-8 text ({err.reason} at byte {err.start}); "
                         "convert it (e.g. iconv -t utf-8) or choose another file") from None
    except OSError as err:
        raise DataError(f"{key}={path!r} cannot be read ({err.strerror}); check its permissions") from None
    if "\x00" in text:
        raise DataError(f"{key}={path!r} looks like a binary file (it contains NUL bytes); give a UTF-8 text file")
    return text
