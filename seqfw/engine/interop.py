"""Weights in and out of the layout of ``torch.nn.RNN`` / ``GRU`` / ``LSTM`` state dicts.

Plain NumPy arrays in and out: torch is not needed. Keys, per layer k and
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
"""
from __future__ import annotations

import numpy as np

from .backend import to_host
from .cells import GRUCell, LSTMCell, RNNCell
from .errors import SeqfwError

SUFFIX = {"fwd": "", "bwd": "_reverse"}


class InteropError(SeqfwError, ValueError):
    """Weights that do not fit the network (or a cell with no PyTorch counterpart); the message says which."""


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


def from_torch_state_dict(net, state_dict: dict, xp=np, dtype=np.float32) -> dict:
    """A torch-layout state dict (arrays, or tensors via ``np.asarray``) -> seqfw parameters for ``net``.

    Every expected key must be present with its shape; a missing bias
    (``bias=False`` in torch) counts as zeros. Unknown keys are refused.
    """
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
        layers[k][d] = {n: xp.asarray(v, dtype=dtype) for n, v in p.items()}
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
