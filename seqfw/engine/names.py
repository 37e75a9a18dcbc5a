"""Parameters by name: one array of any parameter tree by its dotted name, and the whole tree as
``{name: array}`` in and out.

A parameter tree is nested dicts and lists of arrays (``seqfw.engine.tree``); a leaf's name is its
path, list positions as numbers. A ``Stacked`` network's tree and names::

    {"layers": [{"fwd": {"W_x", "W_h", "b", ...cell extras},      layers.0.fwd.W_x   (D, G*H)
                 "bwd": {...}},                                   layers.0.fwd.W_h   (H, G*H)
                ...]}                                             layers.0.fwd.b     (G*H,)
                                                                  layers.0.bwd.W_x   (bidirectional only)
                                                                  layers.1.fwd.W_x   (2H or H, G*H) ...

Cell extras: ``b_hn`` (H,) of the reset-after GRU, ``p_i``, ``p_f``, ``p_o`` (H,) of the peephole
LSTM. A model prefixes its network and adds its own layers (``seqfw.engine.models``)::

    embed.W (V, E)   rnn.layers.0.fwd.W_x ...   head.W (H_out, K)   head.b (K,)      SequenceModel
    src_embed.W   tgt_embed.W   encoder.layers.0.fwd.W_x ...   decoder.layers...   head.W   head.b
                                                                                     EncoderDecoder

``get``/``set`` reach one array in place; ``to_flat`` copies every array to the host (a dict that
``numpy.savez`` writes as it is); ``from_flat`` builds a fresh tree for a network or model from
such a dict, in a backend's array module and dtype. Which names and shapes a tree has is the
network's own business: ``from_flat`` asks it (``init_params``), never a table here.

Dtypes: ``set`` writes into an existing array, so it converts only where nothing is lost (the same
dtype, or float32 values into a float64 parameter) and refuses float64 values for a float32
parameter: a mismatch is an error, not a silent cast. ``from_flat`` builds new arrays in the dtype
of the backend it is given; that argument is the explicit choice.
"""
from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from .backend import Backend, to_host, xp_of
from .interop import InteropError, host_array, require_backend
from .tree import flatten, leaves_with_paths, tree_map

# ``set`` shadows the builtin inside this module (nothing here calls the builtin); it is called as
# ``names.set``, so a star import does not take it
__all__ = ["check_names", "from_flat", "get", "to_flat"]


def get(params: Any, name: str):
    """The array called ``name`` (``"layers.0.fwd.W_x"``) in ``params``: the tree's own array, not a copy."""
    return _leaf(params, name)


def set(params: Any, name: str, value) -> None:
    """Write ``value`` into the array called ``name``, in place (on its device, in its dtype).

    The shape must be the array's own; the dtype must convert without loss (see the module's notes).
    NumPy arrays, CuPy arrays and anything ``numpy.asarray`` reads (a CPU torch tensor) are accepted.
    """
    leaf = _leaf(params, name)
    host = _host_or_native(value, leaf)
    if tuple(host.shape) != tuple(leaf.shape):
        column = len(host.shape) == 2 and host.shape[1] == 1 and tuple(leaf.shape) == host.shape[:1]
        raise InteropError(f"{name!r} has shape {tuple(leaf.shape)}, the value given has {tuple(host.shape)}; "
                           f"pass an array of shape {tuple(leaf.shape)}"
                           f"{' (a column bias (H, 1) is value[:, 0] here)' if column else ''}.")
    if not np.can_cast(host.dtype, leaf.dtype, casting="safe"):
        raise InteropError(
            f"{name!r} is {np.dtype(leaf.dtype).name} and the value is {np.dtype(host.dtype).name}, which would "
            f"lose precision: a mismatch is an error, not a silent cast. Convert it explicitly with "
            f"value.astype({np.dtype(leaf.dtype).name!r}), or build the network with the float64 backend "
            "(get_backend(..., dtype='float64')) to keep the values as they are.")
    leaf[...] = xp_of(leaf).asarray(host, dtype=leaf.dtype)


def to_flat(params: Any) -> dict[str, np.ndarray]:
    """``{dotted name: NumPy copy}`` of every array, in the tree's order (a host copy even on NumPy)."""
    return {name: np.array(to_host(leaf), copy=True) for name, leaf in leaves_with_paths(params)}


def from_flat(net_or_model: Any, flat: dict, backend: Backend) -> Any:
    """A new parameter tree for ``net_or_model`` (a ``Stacked`` network, a model, a cell: anything with
    ``init_params``) from ``{dotted name: array}``, in ``backend``'s array module and dtype.

    Every name the object has must be given with its shape, and no other; all problems are
    reported in one ``InteropError``. The arrays are copies: changing the result leaves ``flat`` alone.
    """
    xp, dtype = require_backend(backend, "from_flat")
    if not isinstance(flat, dict):
        raise InteropError(f"from_flat takes a dict {{dotted name: array}} (as to_flat gives), got {type(flat).__name__}")
    # the object's own structure, drawn on the host: only its names and shapes are read
    template = net_or_model.init_params(np.random.default_rng(0), np, np.float64)
    check_names({name: leaf.shape for name, leaf in leaves_with_paths(template)}, flat,
                type(net_or_model).__name__)
    out = tree_map(lambda leaf: xp.empty(leaf.shape, dtype=dtype), template)
    for name, leaf in leaves_with_paths(out):
        leaf[...] = xp.asarray(_host_or_native(flat[name], leaf), dtype=dtype)
    return out


def check_names(expected: dict[str, tuple], given: dict, owner: str, fix: str = "") -> None:
    """Refuse ``given`` unless it has exactly the names of ``expected`` ({name: shape}), each with its
    shape: one ``InteropError`` listing every missing name, every unknown one (with the closest
    expected name) and every wrong shape. ``fix`` ends the message (what to check)."""
    missing = [n for n in expected if n not in given]
    unknown = [n for n in given if n not in expected]
    wrong = [f"{n} is {tuple(np.shape(given[n]))}, needs {tuple(s)}" for n, s in expected.items()
             if n in given and tuple(np.shape(given[n])) != tuple(s)]
    if not (missing or unknown or wrong):
        return
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if unknown:
        # a misspelt name usually stands for one of the missing ones
        parts.append("unknown " + ", ".join(n + _did_you_mean(n, missing or expected) for n in unknown))
    if wrong:
        parts.append(f"wrong shapes: {'; '.join(wrong)}")
    raise InteropError(
        f"these weights do not fit this {owner}: {'; '.join(parts)}. "
        + (fix or "Export the names from the same architecture (to_flat), or check num_layers, "
                  "bidirectional, input_size, hidden_size and the cell's type and options."))


# -- lookups -------------------------------------------------------------------------------------
def _leaf(params: Any, name: str):
    if not isinstance(name, str) or not name:
        raise InteropError(f"a parameter name is a dotted string such as 'layers.0.fwd.W_x', got {name!r}; "
                           "to_flat(params) lists them all.")
    node, walked = params, []
    for part in str(name).split("."):
        keys = _keys(node)
        if keys is None:
            raise InteropError(f"no parameter {name!r}{_did_you_mean(name, flatten(params))}: "
                               f"{'.'.join(walked)!r} is already an array. Names are dotted paths such as "
                               "'layers.0.fwd.W_x'; to_flat(params) lists them all.")
        key = _key_at(node, part)
        if key is None:
            where = f"{'.'.join(walked)!r} has" if walked else "the top level has"
            raise InteropError(
                f"no parameter {name!r}{_did_you_mean(name, flatten(params))}: {where} "
                f"{', '.join(map(str, keys)) or 'nothing'}. Names are dotted paths such as 'layers.0.fwd.W_x'; "
                "to_flat(params) lists them all.")
        node = node[key]
        walked.append(part)
    if _keys(node) is not None:
        names = [f"{name}.{k}" for k, _ in leaves_with_paths(node)]
        raise InteropError(f"{name!r} is a group of parameters, not one: name one of {', '.join(names)}.")
    return node


def _keys(node) -> list | None:
    """The names one level down, or None for an array."""
    if isinstance(node, dict):
        return list(node)
    if isinstance(node, (list, tuple)):
        return list(range(len(node)))
    return None


def _key_at(node, part: str):
    if isinstance(node, dict):
        return part if part in node else None
    # "0" but not "00" or "-1": one spelling per position, as to_flat writes it
    return int(part) if part.isdigit() and str(int(part)) == part and int(part) < len(node) else None


def _did_you_mean(name: str, candidates) -> str:
    """The closest candidate: among those beside ``name`` (same group) by the last part alone, since a
    shared ``layers.0.fwd.`` would make any two names look alike; by the whole name when none is beside it."""
    candidates = list(candidates)
    head, _, last = name.rpartition(".")
    beside = [c.rpartition(".")[2] for c in candidates if c.rpartition(".")[0] == head]
    if beside:
        close = difflib.get_close_matches(last, beside, n=1, cutoff=0.6)
        close = [f"{head}.{close[0]}" if head else close[0]] if close else []
    else:
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _host_or_native(value, leaf) -> Any:
    """``value`` as an array ``leaf``'s module can take: itself if it is already of that kind (no trip
    through the host), else a host array."""
    return value if isinstance(value, type(leaf)) else host_array(value)
