"""Weights in and out of the layout of ``torch.nn.RNN`` / ``GRU`` / ``LSTM`` state dicts.

torch is not needed: exports are NumPy arrays, imports read arrays (or tensors, through
``np.asarray``) into a ``Backend``'s module and dtype. Keys, per layer k and
direction (suffix ``_reverse`` for the backward one)::

    weight_ih_l{k}{sfx} (G*H, D)   weight_hh_l{k}{sfx} (G*H, H)
    bias_ih_l{k}{sfx}   (G*H,)     bias_hh_l{k}{sfx}   (G*H,)

seqfw keeps ``W_x = weight_ih.T``, ``W_h = weight_hh.T`` and one fused bias
``b = bias_ih + bias_hh``, so an export puts the whole bias in ``bias_ih`` and
zeros in ``bias_hh`` (same function, different split). Supported: ``rnn``
(tanh, relu), ``lstm`` without peepholes (gate order i, f, g, o in both) and
``gru`` with ``reset_after: true``. For the GRU, torch keeps the n-block of
``bias_hh`` inside the reset product (our ``b_hn``) and writes
h = (1 - z) n + z h_prev: its z is 1 - Γu, so the z blocks of its weights and
biases are the negatives of our update-gate blocks.

Initial and final states in torch's layout (``h_0``/``h_n``, and ``c_0``/``c_n`` for the LSTM)::

    h (num_layers * num_directions, B, H)      row  layer * num_directions + direction  (fwd 0, bwd 1)

seqfw's own state is a list of per-layer ``{"fwd": CellState, "bwd": CellState}`` (``HState(h)``, or
``LSTMState(h, c)``), what ``Stacked.forward(params, x, lengths, state)`` takes and returns;
``to_torch_state`` and ``from_torch_state`` convert between the two.

``InteropError`` is also the error of ``seqfw.engine.names`` and ``seqfw.engine.layouts``: weights
that do not fit a network, in any layout.
"""
from __future__ import annotations

import numpy as np

from .backend import Backend, to_host
from .cells import GRUCell, LSTMCell, RNNCell
from .errors import SeqfwError

SUFFIX = {"fwd": "", "bwd": "_reverse"}


class InteropError(SeqfwError, ValueError):
    """Weights (or states) that do not fit the network in some layout, or a cell the layout cannot hold
    (no PyTorch counterpart, no course names); the message says which and what to do."""


def _kind(cell) -> str:
    if isinstance(cell, LSTMCell) and not cell.peephole:
        return "lstm"
    if isinstance(cell, GRUCell) and cell.reset_after:
        return "gru"
    if isinstance(cell, RNNCell):
        return "rnn"
    raise InteropError(
        f"{cell!r} has no torch.nn counterpart; PyTorch interop covers rnn (tanh, relu), "
        "lstm without peepholes and gru with reset_after: true."
    )


def _z_sign(kind: str, H: int) -> np.ndarray:
    """+1 per gate row, -1 on the GRU's z block (torch z = 1 - Γu)."""
    sign = np.ones(3 * H if kind == "gru" else 1)
    if kind == "gru":
        sign[H : 2 * H] = -1
    return sign


def _layers(net):
    for k, layer in enumerate(net.layers):
        for d, cell in layer.cells.items():
            yield k, d, cell, f"l{k}{SUFFIX[d]}"


def to_torch_state_dict(net, params) -> dict[str, np.ndarray]:
    """seqfw parameters of a ``Stacked`` network -> a torch-layout state dict of NumPy arrays."""
    out = {}
    for k, d, cell, key in _layers(net):
        kind, H = _kind(cell), cell.hidden_size
        p = {n: to_host(v) for n, v in params["layers"][k][d].items()}
        sign = _z_sign(kind, H)
        out[f"weight_ih_{key}"] = (p["W_x"] * sign).T.copy()
        out[f"weight_hh_{key}"] = (p["W_h"] * sign).T.copy()
        out[f"bias_ih_{key}"] = p["b"] * sign
        bias_hh = np.zeros_like(p["b"])
        if kind == "gru":
            bias_hh[2 * H :] = p["b_hn"]
        out[f"bias_hh_{key}"] = bias_hh
    return out


def from_torch_state_dict(net, state_dict: dict, backend: Backend) -> dict:
    """A torch-layout state dict (arrays, or tensors via ``np.asarray``) -> seqfw parameters for ``net``,
    in ``backend``'s array module and dtype.

    Every expected key must be present with its shape; a missing bias
    (``bias=False`` in torch) counts as zeros. Unknown keys are refused.
    """
    xp, dtype = require_backend(backend, "from_torch_state_dict")
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in state_dict.items()}
    expected, layers = set(), []
    for k, d, cell, key in _layers(net):
        kind, H, D = _kind(cell), cell.hidden_size, cell.input_size
        G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
        w_ih, w_hh = _take(sd, f"weight_ih_{key}", (G * H, D)), _take(sd, f"weight_hh_{key}", (G * H, H))
        b_ih = _take(sd, f"bias_ih_{key}", (G * H,), optional=True)
        b_hh = _take(sd, f"bias_hh_{key}", (G * H,), optional=True)
        expected |= {f"{n}_{key}" for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        sign = _z_sign(kind, H)
        p = {"W_x": w_ih.T * sign, "W_h": w_hh.T * sign}
        if kind == "gru":
            b = b_ih.copy()
            b[: 2 * H] += b_hh[: 2 * H]
            p["b"], p["b_hn"] = b * sign, b_hh[2 * H :]
        else:
            p["b"] = b_ih + b_hh
        if k == len(layers):
            layers.append({})
        layers[k][d] = {n: xp.array(v, dtype=dtype) for n, v in p.items()}
    unknown = sorted(set(sd) - expected)
    if unknown:
        raise InteropError(
            f"state dict has keys this network does not: {', '.join(unknown)}. Check num_layers, "
            "bidirectional and the cell type (proj_size is not supported)."
        )
    # keep each cell's declared parameter order
    return {"layers": [{d: {n: lp[d][n] for n in net.layers[k].cells[d].param_specs()} for d in lp}
                       for k, lp in enumerate(layers)]}


def _take(sd: dict, key: str, shape: tuple, optional: bool = False) -> np.ndarray:
    if key not in sd:
        if optional:
            return np.zeros(shape)
        raise InteropError(f"state dict lacks {key!r} (expected shape {shape}); is it from the same architecture?")
    if sd[key].shape != shape:
        raise InteropError(f"state dict entry {key!r} has shape {sd[key].shape}, this network needs {shape}")
    return sd[key]


def to_torch_gradients(net, grads) -> dict[str, np.ndarray]:
    """seqfw gradients -> gradients of the torch parameters (the fused bias feeds both torch biases)."""
    out = to_torch_state_dict(net, grads)
    for k, d, cell, key in _layers(net):
        kind, H = _kind(cell), cell.hidden_size
        db = out[f"bias_ih_{key}"]
        if kind == "gru":
            out[f"bias_hh_{key}"] = np.concatenate([db[: 2 * H], to_host(grads["layers"][k][d]["b_hn"])])
        else:
            out[f"bias_hh_{key}"] = db.copy()
    return out


# -- states ----------------------------------------------------------------------------------------
def to_torch_state(net, state: list):
    """seqfw's per-layer states -> torch's ``h`` (L*dirs, B, H), or ``(h, c)`` for an LSTM: NumPy arrays,
    row ``layer * num_directions + direction`` as ``h_n`` (and ``c_n``) of ``torch.nn.RNN/GRU/LSTM``."""
    fields = _state_fields(net)
    shaped = isinstance(state, (list, tuple)) and len(state) == len(net.layers) and all(
        isinstance(s, dict) and all(s.get(d) is not None for d in layer.directions)
        for layer, s in zip(net.layers, state))
    if not shaped:
        raise InteropError(
            f"to_torch_state needs this network's state: a list of {len(net.layers)} per-layer dicts with "
            f"{' and '.join(repr(d) for d in net.layers[0].directions)} (the final states Stacked.forward "
            f"returns), got {type(state).__name__}"
            + (f" of length {len(state)}." if isinstance(state, (list, tuple)) else "."))
    stacked = tuple(np.stack([to_host(getattr(layer_state[d], field)) for layer, layer_state in zip(net.layers, state)
                              for d in layer.directions]) for field in fields)
    return stacked[0] if len(stacked) == 1 else stacked


def from_torch_state(net, h0, c0=None, *, backend: Backend) -> list:
    """torch's ``h_0`` (L*dirs, B, H) (and ``c_0`` for an LSTM; arrays, or tensors via ``np.asarray``) ->
    the per-layer state ``Stacked.forward`` takes, in ``backend``'s array module and dtype."""
    xp, dtype = require_backend(backend, "from_torch_state")
    fields = _state_fields(net)
    given = {"h": h0, "c": c0}
    if "c" not in fields and c0 is not None:
        raise InteropError("c0 was given, but this network's cells keep no memory cell c (only an LSTM's "
                           "state has one): pass h0 alone.")
    if "c" in fields and c0 is None:
        raise InteropError("this network's cells are LSTMs: their state needs c0 as well as h0, "
                           "(num_layers * num_directions, B, H) each, as torch.nn.LSTM's (h_0, c_0).")
    arrays = {f: host_array(given[f]) for f in fields}
    shape = _torch_state_shape(net, arrays["h"])
    for f, a in arrays.items():
        if a.shape != shape:
            raise InteropError(
                f"{f}0 has shape {a.shape}; this network needs (num_layers * num_directions, B, H) = {shape} "
                f"({len(net.layers)} layers, {len(net.layers[0].directions)} direction(s), hidden size "
                f"{shape[2]}). An unbatched (L*dirs, H) state needs its batch axis: {f}0[:, None].")
    out, row = [], 0
    for layer in net.layers:
        per = {}
        for d in layer.directions:
            per[d] = layer.cells[d].state_type(*(xp.array(arrays[f][row], dtype=dtype) for f in fields))
            row += 1
        out.append(per)
    return out


def _state_fields(net) -> tuple:
    """``("h",)`` or ``("h", "c")``: the state fields torch's layout holds, the same for every cell."""
    kinds = {tuple(cell.state_type._fields) for layer in net.layers for cell in layer.cells.values()}
    if len(kinds) != 1 or next(iter(kinds)) not in (("h",), ("h", "c")):
        raise InteropError(f"this network's cell states have fields {sorted(kinds)}; torch's layout holds h "
                           "(rnn, gru) or h and c (lstm), the same for every layer.")
    return next(iter(kinds))


def _torch_state_shape(net, h0: np.ndarray) -> tuple:
    rows = sum(len(layer.directions) for layer in net.layers)
    H = net.layers[0].cells[net.layers[0].directions[0]].hidden_size
    return (rows, h0.shape[1] if h0.ndim == 3 else "B", H)


def host_array(value) -> np.ndarray:
    """A host array of ``value``: a CuPy array copied off its device, a torch tensor detached from its graph
    (``requires_grad`` tensors refuse ``np.asarray``) and moved to the CPU, anything else through ``np.asarray``."""
    if type(value).__module__.split(".")[0] == "cupy":
        return to_host(value)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        value = value.detach().cpu()
    return np.asarray(value)


def require_backend(backend, what: str) -> tuple:
    """``(xp, dtype)`` of ``backend``, which an importer must be given: no module or dtype is assumed."""
    if not isinstance(backend, Backend):
        raise InteropError(f"{what} needs a Backend, e.g. seqfw.get_backend('numpy', dtype='float64'), got "
                           f"{backend!r}: the arrays come back in its array module and dtype.")
    return backend.xp, backend.dtype
