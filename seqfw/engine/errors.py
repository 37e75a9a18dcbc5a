"""The errors a user can cause, and the checks that raise them for a setting.

Every error that bad input can cause (a setting out of range, a missing file, an
unusable backend or store, a broken plugin) is a ``SeqfwError``: the command line
catches exactly that class and prints its message as one paragraph. Anything else
that escapes is a bug in seqfw or in a plugin, and is reported as one.

A component checks its own arguments where it is built and raises ``SettingError``
naming the argument (``name``), not a configuration key: the engine knows nothing of
configs. Whoever builds it from a config (``seqfw.runner.build``) maps the name to its
key (``optim.lr``) with ``SettingError.keyed``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .tree import leaves_with_paths


class SeqfwError(Exception):
    """Base of every error a user can cause; the message says what is wrong and how to fix it."""


class SettingError(SeqfwError, ValueError):
    """An argument that cannot work: which one (``name``), its value, and what it must be."""

    def __init__(self, owner: str, name: str, value: Any, requirement: str):
        self.owner, self.name, self.value, self.requirement = owner, name, value, requirement
        super().__init__(f"{owner}: {self.keyed(name)}")

    def keyed(self, key: str) -> str:
        """The message with ``key`` in place of the owner and argument name (``optim.lr must be ...``)."""
        return f"{key} {self.requirement}, got {self.value!r}"


def check_number(owner: str, name: str, value: Any, low: float = -math.inf, high: float = math.inf,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it is a finite number in the range, else ``SettingError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < low or value > high or (low_open and value == low) or (high_open and value == high):
        raise SettingError(owner, name, value, _range(low, high, low_open, high_open))
    return float(value)


def _range(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if low == -math.inf and high == math.inf:
        return "must be a finite number"
    if high == math.inf:
        return f"must be a number {'>' if low_open else '>='} {float(low)}"
    if low == -math.inf:
        return f"must be a number {'<' if high_open else '<='} {float(high)}"
    return f"must be in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_count(owner: str, name: str, value: Any, low: int = 1) -> int:
    """``value`` as an int if it is a whole number >= ``low`` (not a bool), else ``SettingError``."""
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not whole or value < low:
        raise SettingError(owner, name, value, f"must be >= {low}" if whole else f"must be a whole number >= {low}")
    return int(value)


def check_choice(owner: str, name: str, value: Any, choices: tuple) -> Any:
    """``value`` if it is one of ``choices``, else ``SettingError`` listing them."""
    if value not in choices:
        raise SettingError(owner, name, value, f"must be one of {', '.join(map(str, choices))}")
    return value


def check_flag(owner: str, name: str, value: Any) -> bool:
    """``value`` if it is a bool, else ``SettingError``."""
    if not isinstance(value, bool):
        raise SettingError(owner, name, value, "must be true or false")
    return value


class DtypeError(SeqfwError, TypeError):
    """Float arrays of one computation in different dtypes (or none given where one must be chosen).

    seqfw never casts silently: NumPy would run a float32 network on float64 inputs in float64
    (twice the memory, and results that differ from the float32 run), and CuPy alike.
    """


DTYPE_FIX = ("Pick the dtype once, in the backend, and create everything from it: "
             "`be = get_backend(..., dtype=...)`, then `x = be.asarray(x)` for the inputs, "
             "`params = net.init_params(be)` for the parameters and `net.initial_state(batch, be)` for a state.")


def check_same_dtype(owner: str, *parts: tuple[str, Any]) -> None:
    """Raise ``DtypeError`` unless every float array of every part shares one dtype.

    A part is ``(what, arrays)``: ``what`` a subject with its verb (``"the inputs x are"``), ``arrays``
    one array, a tree of them (parameters, a state) or None. Every float leaf is compared, so a
    float32 ``W_h`` in layer 2 or a float32 ``c`` beside a float64 ``h`` is caught too; integer
    leaves (token ids) are skipped. A few dozen dtype comparisons per call: nothing beside one GEMM.
    """
    first = None
    for what, arrays in parts:
        part_dtype = None  # the part's own first dtype: a leaf that breaks with it is named by its path
        for path, leaf in leaves_with_paths(arrays):
            dtype = float_dtype(leaf)
            if dtype is None:
                continue
            if first is None:
                first = (what, path, dtype)
            elif dtype != first[2]:
                where = f" at {path}" if part_dtype is not None else ""
                raise DtypeError(f"{owner}: {_mismatch(what, where, dtype, first)}. Every float array of one "
                                 f"computation must share one dtype; seqfw does not cast silently. {DTYPE_FIX}")
            part_dtype = dtype


def _mismatch(what: str, where: str, dtype, first: tuple) -> str:
    """``the inputs x are float64 but the parameters are float32``; inside one part, where each lies."""
    first_what, first_path, first_dtype = first
    name, first_name = np.dtype(dtype).name, np.dtype(first_dtype).name
    if what == first_what:
        return f"{what} {name}{where} but {first_name} at {first_path or '(top)'}"
    return f"{what} {name}{where} but {first_what} {first_name}"


def check_float_input(owner: str, x: Any) -> None:
    """A network reads float features: integer (or boolean) inputs would be truncated on the way through."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None and not np.issubdtype(dtype, np.floating):
        raise DtypeError(f"{owner}: the inputs x are {np.dtype(dtype).name}, and a network reads float features "
                         f"(token ids go through a model's embedding: model.logits, model.loss_and_grads). "
                         f"{DTYPE_FIX}")


def float_dtype(x) -> Any:
    """``x``'s dtype if it is a floating array, else None (token ids, None): what ``check_same_dtype`` skips."""
    dtype = getattr(x, "dtype", None)
    return dtype if dtype is not None and np.issubdtype(dtype, np.floating) else None
