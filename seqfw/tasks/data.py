"""Reading and batching a task's data: a user's files, padding to a batch, the error for bad data."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine.backend import available_memory
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


# Once split into lines and tokens and encoded as lists of ids, a corpus takes this many times its file
# size in memory (char_lm and a tagged ner file measure ~33x, word_lm ~8x; doubled for a margin).
EXPANSION = 64


def read_text(path: str, key: str = "task.data.path", expansion: int = EXPANSION) -> str:
    """A user's corpus file as text, or a DataError (naming the config ``key``) saying what is wrong with it.

    A file whose data (``expansion`` times its size) would not fit in the memory available is refused
    before a byte of it is read."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise DataError(f"{key}={path!r} is a directory; give a text file")
    if p.exists() and not p.is_file():  # a device, a FIFO, a socket: never read (it may never end)
        raise DataError(f"{key}={path!r} is not a regular file (a device, pipe or socket); give a text file")
    if not p.is_file():
        raise DataError(f"{key}={path!r}: no such file (relative paths start at the directory you run from: "
                         f"{Path.cwd()})")
    check_size(p, key, path, expansion)
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


def check_size(p: Path, key: str, path: str, expansion: int) -> None:
    """Refuse a file too large to read whole and encode in the memory available (read nothing)."""
    size, room = p.stat().st_size, available_memory()
    if room is None or size * expansion <= room:
        return
    most = room // expansion
    raise DataError(f"{key}={path!r} is {human_bytes(size)}, too large to train on here: once split and encoded, "
                    f"a corpus takes about {expansion} times its file size in memory, and this machine has "
                    f"{human_bytes(room)} available (room for a file of at most {human_bytes(most)}). Give a smaller "
                    f"file (e.g. head -c {max(most // 2**20, 1)}M FILE > part.txt).")


def human_bytes(n: float) -> str:
    """A byte count for a message: "1.5 GB", "12.0 MB", "2.0 TB"."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"
