"""Weights in two more layouts: the course's per-gate matrices, and the fused one in any gate order.

**seqfw's own layout** (row vectors, ``x @ W``), for a cell of G gate blocks, input D, hidden H::

    W_x (D, G*H)    W_h (H, G*H)    b (G*H,)        blocks side by side in the order of cell.GATES
    extras (H,)     b_hn (reset-after GRU), p_i, p_f, p_o (peephole LSTM)

**The course's layout** (Andrew Ng's Deep Learning Specialization, Sequence Models): column vectors,
one matrix per gate acting on the stacked column [a<t-1>; x<t>], recurrent part first::

    W? = [W_h[:, k].T | W_x[:, k].T]   (H, H + D)        gate block k, H = n_a, D = n_x
    b? = b[k][:, None]                 (H, 1)
    rnn          Wa, ba                    (the lecture's W_a = [W_aa | W_ax]; the exercise's rnn_cell_forward
                                            takes Waa and Wax apart: Wa = np.hstack([Waa, Wax]))
    gru_simple   Wu, bu, Wc, bc            (z -> u, n -> c)
    gru          Wr, br, Wu, bu, Wc, bc    (the Cho form, the course's; r -> r, z -> u, n -> c)
    gru, reset_after: true   also bhc (H, 1) for b_hn: the course teaches only the Cho form, so
                             this name is seqfw's, in the course's style
    lstm         Wf, bf, Wi, bi, Wc, bc, Wo, bo   (f -> f, i -> i (Γu, the update gate), g -> c, o -> o)
    lstm, peephole: true     also pf, pi, po (H, 1) for p_f, p_i, p_o

The mapping belongs to the cell: ``COURSE_NAMES`` (gate block -> letter) and ``COURSE_VECTORS``
(extra parameter -> name) on each built-in cell class. A cell without them has no course layout.
The course's data are column-major too: x (n_x, m, T_x), a0 (n_a, m), a (n_a, m, T_x), against
seqfw's time-major (T, B, D) and (T, B, H); ``course_inputs`` and ``course_outputs`` convert.

**Packed, in any gate order**: seqfw's layout with the gate blocks permuted, e.g. CS231n's LSTM
(``a = x @ Wx + h @ Wh + b``, then i, f, o, g) ``("i", "f", "o", "g")``, Keras' LSTM
``("i", "f", "g", "o")``; with ``transpose=True`` the matrices are (G*H, D) and (G*H, H) as
``W @ x`` libraries keep them. Only the block order changes, not the math: a library whose gate
means something else (Keras' and torch's GRU z = 1 - Γu, a sign convention) needs that change too,
which ``seqfw.engine.interop`` makes for torch only. Extras (b_hn, peepholes) pass through as they are.

Cell-level functions take one cell's parameter dict; network-level ones a ``Stacked`` network's
tree and flat dotted names (``layers.0.fwd.Wf``, ``layers.1.bwd.W_x``). Exports are NumPy host
copies; every importer takes a ``Backend`` and builds new arrays in its module and dtype.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .backend import Backend, to_host, xp_of
from .interop import InteropError, host_array, require_backend
from .names import check_names

FUSED = ("W_x", "W_h", "b")  # what a course matrix is cut from


# -- the course's layout: one cell -----------------------------------------------------------------
def cell_to_course(cell, cell_params: dict) -> dict[str, np.ndarray]:
    """One cell's parameters -> ``{"Wf": (H, H + D), "bf": (H, 1), ...}`` (NumPy copies, course order)."""
    gates, vectors = _course_names(cell)
    check_names(_shapes_of(cell), cell_params, type(cell).__name__, _FIX_PARAMS)
    p = {n: to_host(v) for n, v in cell_params.items()}
    out = {}
    for gate, letter in gates.items():
        k = _block(cell, gate)
        out[f"W{letter}"] = np.concatenate([p["W_h"][:, k].T, p["W_x"][:, k].T], axis=1)
        out[f"b{letter}"] = p["b"][k][:, None].copy()
    for name, course in vectors.items():
        out[course] = p[name][:, None].copy()
    return out


def cell_from_course(cell, course: dict, backend: Backend) -> dict:
    """``{"Wf": ..., "bf": ..., ...}`` -> one cell's parameters, in ``backend``'s module and dtype."""
    xp, dtype = require_backend(backend, "cell_from_course")
    gates, vectors = _course_names(cell)
    check_names(_course_shapes(cell), course, type(cell).__name__, _FIX_COURSE)
    c = {n: host_array(v) for n, v in course.items()}
    H = cell.hidden_size
    host = {n: np.empty(s, dtype=np.result_type(*c.values())) for n, s in _shapes_of(cell).items()}
    for gate, letter in gates.items():
        k = _block(cell, gate)
        W = c[f"W{letter}"]
        host["W_h"][:, k], host["W_x"][:, k] = W[:, :H].T, W[:, H:].T
        host["b"][k] = c[f"b{letter}"][:, 0]
    for name, course_name in vectors.items():
        host[name][...] = c[course_name][:, 0]
    return {n: xp.array(v, dtype=dtype) for n, v in host.items()}


# -- the course's layout: a network ----------------------------------------------------------------
def to_course(net, params: dict) -> dict[str, np.ndarray]:
    """A ``Stacked`` network's parameters -> ``{"layers.0.fwd.Wf": ..., ...}`` (NumPy copies)."""
    return {prefix + n: v for prefix, cell, p in _cells_with(net, params)
            for n, v in cell_to_course(cell, p).items()}


def from_course(net, flat: dict, backend: Backend) -> dict:
    """``{"layers.0.fwd.Wf": ..., ...}`` -> a ``Stacked`` network's parameters, in ``backend``'s module
    and dtype. Every name must be given with its shape, and no other (one message lists all problems)."""
    require_backend(backend, "from_course")
    expected = {prefix + n: s for prefix, cell in _cells(net) for n, s in _course_shapes(cell).items()}
    check_names(expected, flat, "network's course layout", _course_fix(flat))
    return _tree(net, lambda prefix, cell: cell_from_course(
        cell, {n: flat[prefix + n] for n in _course_shapes(cell)}, backend))


# -- the course's data -----------------------------------------------------------------------------
def course_inputs(x):
    """The course's x (n_x, m, T_x) -> seqfw's time-major (T, B, D), contiguous, in the same array
    module and dtype. Any course array laid out (n, m, T_x) goes the same way (a gradient da, say)."""
    return _swap_ends(x, "course_inputs", "x (n_x, m, T_x)")


def course_outputs(y):
    """seqfw's (T, B, H) outputs (or (T, B, D) input gradients) -> the course's (n_a, m, T_x). The same
    axis swap, (2, 1, 0), which is its own inverse: ``course_outputs(course_inputs(x))`` is x."""
    return _swap_ends(y, "course_outputs", "y (T, B, H)")


def _swap_ends(a, what: str, expected: str):
    a = a if type(a).__module__.split(".")[0] in ("numpy", "cupy") else np.asarray(a)
    if a.ndim != 3:
        raise InteropError(f"{what} takes {expected}, three axes; got shape {tuple(a.shape)}. "
                           "One example is still (n, 1, T): keep its batch axis of size 1.")
    return xp_of(a).ascontiguousarray(a.transpose(2, 1, 0))


# -- packed in any gate order ----------------------------------------------------------------------
def cell_to_packed(cell, cell_params: dict, order, transpose: bool = False) -> dict[str, np.ndarray]:
    """One cell's parameters with the gate blocks of ``W_x``, ``W_h``, ``b`` in ``order`` (a permutation
    of ``cell.GATES``); (G*H, D) and (G*H, H) matrices with ``transpose``. NumPy copies."""
    fused, perm = _packing(cell, order)
    check_names(_shapes_of(cell), cell_params, type(cell).__name__, _FIX_PARAMS)
    out = {}
    for name, value in cell_params.items():
        host = to_host(value)
        if name in fused:
            host = _permute_blocks(host, perm)
            host = host.T if transpose and host.ndim == 2 else host
        out[name] = np.array(host, copy=True)
    return out


def cell_from_packed(cell, packed: dict, order, backend: Backend, transpose: bool = False) -> dict:
    """The inverse of ``cell_to_packed``: blocks in ``order`` -> one cell's parameters, in ``backend``'s
    module and dtype."""
    xp, dtype = require_backend(backend, "cell_from_packed")
    fused, perm = _packing(cell, order)
    check_names(_packed_shapes(cell, fused, transpose), packed, type(cell).__name__,
                _fix_packed(cell, order, transpose))
    inverse = list(np.argsort(perm))
    out = {}
    for name in cell.param_specs():
        host = host_array(packed[name])
        if name in fused:
            host = _permute_blocks(host.T if transpose and host.ndim == 2 else host, inverse)
        out[name] = xp.array(host, dtype=dtype)
    return out


def to_packed(net, params: dict, order, transpose: bool = False) -> dict[str, np.ndarray]:
    """A ``Stacked`` network's parameters, blocks in ``order`` -> ``{"layers.0.fwd.W_x": ..., ...}``."""
    return {prefix + n: v for prefix, cell, p in _cells_with(net, params)
            for n, v in cell_to_packed(cell, p, order, transpose).items()}


def from_packed(net, flat: dict, order, backend: Backend, transpose: bool = False) -> dict:
    """``{"layers.0.fwd.W_x": ..., ...}`` with blocks in ``order`` -> a ``Stacked`` network's parameters."""
    require_backend(backend, "from_packed")
    expected = {}
    for prefix, cell in _cells(net):
        fused, _ = _packing(cell, order)
        expected.update({prefix + n: s for n, s in _packed_shapes(cell, fused, transpose).items()})
    first = next(cell for _, cell in _cells(net))
    check_names(expected, flat, "network's packed layout", _fix_packed(first, order, transpose))
    return _tree(net, lambda prefix, cell: cell_from_packed(
        cell, {n: flat[prefix + n] for n in cell.param_specs()}, order, backend, transpose))


# -- what a cell says about itself -----------------------------------------------------------------
def _course_names(cell) -> tuple[dict, dict]:
    """The cell's ``COURSE_NAMES`` and ``COURSE_VECTORS``, refused unless they cover its parameters."""
    gates, vectors = getattr(cell, "COURSE_NAMES", None), getattr(cell, "COURSE_VECTORS", {})
    name = type(cell).__name__
    if not gates:
        raise InteropError(
            f"{name} has no course layout: its class names no course gate letters (COURSE_NAMES, e.g. "
            "{'f': 'f', 'i': 'i', 'g': 'c', 'o': 'o'} on LSTMCell). Give the class COURSE_NAMES and "
            "COURSE_VECTORS, or move its weights in seqfw's own layout (seqfw.engine.names) or a packed "
            "order (to_packed).")
    declared = list(cell.param_specs())
    if sorted(gates) != sorted(getattr(cell, "GATES", ())) or sorted(declared) != sorted([*FUSED, *vectors]):
        raise InteropError(
            f"{name}'s course names {dict(gates)} and {dict(vectors)} do not cover its gates "
            f"{getattr(cell, 'GATES', None)} and parameters {declared}: a class deriving from a built-in "
            "cell with parameters of its own must set its own COURSE_NAMES and COURSE_VECTORS.")
    return gates, vectors


def _course_shapes(cell) -> dict[str, tuple]:
    gates, vectors = _course_names(cell)
    H, D = cell.hidden_size, cell.input_size
    shapes = {}
    for letter in gates.values():
        shapes[f"W{letter}"], shapes[f"b{letter}"] = (H, H + D), (H, 1)
    shapes.update({course: (H, 1) for course in vectors.values()})
    return shapes


def _packing(cell, order) -> tuple[tuple, list]:
    """(the names of the cell's gate-blocked parameters, the permutation that puts ``order`` first)."""
    specs = cell.param_specs()
    fused = tuple(n for n, s in specs.items() if s.blocks is not None)
    gates = getattr(cell, "GATES", None) or (specs[fused[0]].blocks if fused else None)
    if not fused or any(specs[n].blocks != tuple(gates) for n in fused):
        raise InteropError(f"{type(cell).__name__} declares no common gate blocks (Param(..., blocks=GATES)) on "
                           "its fused parameters, so it has no gate order to permute; move its weights by name "
                           "(seqfw.engine.names) instead.")
    order = tuple(order)
    if len(order) != len(gates) or sorted(order) != sorted(gates):
        raise InteropError(f"order {order} is not a permutation of {type(cell).__name__}'s gates {tuple(gates)}: "
                           f"name each gate once, e.g. {tuple(gates)} for seqfw's own order.")
    return fused, [tuple(gates).index(g) for g in order]


def _permute_blocks(a: np.ndarray, perm: list) -> np.ndarray:
    """``a``'s equal blocks along its last axis, block j of the result = block perm[j] of ``a``."""
    size = a.shape[-1] // len(perm)
    return np.concatenate([a[..., j * size:(j + 1) * size] for j in perm], axis=-1)


def _packed_shapes(cell, fused: tuple, transpose: bool) -> dict[str, tuple]:
    shapes = _shapes_of(cell)
    if transpose:
        shapes.update({n: s[::-1] for n, s in shapes.items() if n in fused and len(s) == 2})
    return shapes


def _shapes_of(cell) -> dict[str, tuple]:
    return {n: tuple(s.shape) for n, s in cell.param_specs().items()}


def _block(cell, gate: str) -> slice:
    k, H = cell.GATES.index(gate), cell.hidden_size
    return slice(k * H, (k + 1) * H)


# -- a network's cells -----------------------------------------------------------------------------
def _cells(net) -> Iterator[tuple[str, object]]:
    """``("layers.{k}.{direction}.", cell)`` for each cell of a ``Stacked`` network, in parameter order."""
    for k, layer in enumerate(net.layers):
        for d in layer.directions:
            yield f"layers.{k}.{d}.", layer.cells[d]


def _cells_with(net, params: dict):
    layers = params.get("layers") if isinstance(params, dict) else None
    if not isinstance(layers, (list, tuple)) or len(layers) != len(net.layers):
        raise InteropError(f"expected a Stacked network's parameters, {{'layers': [...]}} with {len(net.layers)} "
                           f"layers; got {type(params).__name__}"
                           + (f" with keys {list(params)}." if isinstance(params, dict) else ".")
                           + " A model's network is params['rnn'] (or 'encoder', 'decoder').")
    for prefix, cell in _cells(net):
        _, k, d, _ = prefix.split(".")
        yield prefix, cell, layers[int(k)][d]


def _tree(net, make) -> dict:
    """``{"layers": [{direction: make(prefix, cell)}]}``, the structure ``Stacked.init_params`` builds."""
    return {"layers": [{d: make(f"layers.{k}.{d}.", layer.cells[d]) for d in layer.directions}
                       for k, layer in enumerate(net.layers)]}


_FIX_PARAMS = "Pass the parameters of this very cell (params['layers'][k]['fwd'])."
_FIX_COURSE = ("The course names one (H, H + D) matrix and one (H, 1) bias per gate, recurrent block first "
               "([a<t-1>; x<t>]); check the cell type and its options, hidden_size and input_size.")


def _course_fix(flat: dict) -> str:
    """The fix for a network's course weights, with the two slips a learner makes most named first:
    the exercise's bare names (one cell: no layer prefix) and its output layer (Wy, by: the model's head)."""
    hints = []
    if flat and not any("." in str(n) for n in flat):
        hints.append("These are one cell's names: prefix each with its place, e.g. 'layers.0.fwd.' + name, or use "
                     "cell_from_course(cell, course, backend) for one cell.")
    if any(str(n).rpartition(".")[2] in ("Wy", "by") for n in flat):
        hints.append("Wy and by are the output layer's (ŷ = softmax(Wy a + by)), a model's head, not the cell's: "
                     "leave them out here.")
    return " ".join([*hints, _FIX_COURSE])


def _fix_packed(cell, order, transpose: bool) -> str:
    shapes = "W_x (G*H, D), W_h (G*H, H)" if transpose else "W_x (D, G*H), W_h (H, G*H)"
    return (f"Packed in order {tuple(order)}{' with transpose' if transpose else ''}: {shapes}, b (G*H,), "
            "extras as the cell declares them; check the cell type and its options, hidden_size, input_size "
            "and transpose.")
