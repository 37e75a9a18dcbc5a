"""Parity of seqfw's stacked recurrent networks with torch.nn.RNN / GRU / LSTM.

Forward (outputs, final states) and backward (dx, d initial state, every
parameter gradient) are compared on the same weights, inputs, initial states
and loss L = Σ y·R + Σ h_n·S (+ Σ c_n·S2 for the LSTM), with padded batches
going through torch's packed sequences. Also the weight interop itself: round
trips, export into a torch module, and the errors for what torch cannot hold; initial and final
states in torch's (num_layers * num_directions, B, H) layout both ways.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the parity reference; install torch==2.13.0 (CPU) to run these")

import seqfw  # noqa: E402
from seqfw.engine.interop import (  # noqa: E402
    InteropError, from_torch_state, from_torch_state_dict, to_torch_gradients, to_torch_state, to_torch_state_dict)
from seqfw.testing import rel_error  # noqa: E402
from seqfw.engine.tree import flatten, leaves_with_paths  # noqa: E402

pytestmark = pytest.mark.torch

T, B, D, H = 6, 4, 3, 5
RAGGED = [6, 3, 5, 1]  # unsorted on purpose (enforce_sorted=False), one length-1 row

# name -> (seqfw cell, seqfw options, torch class, torch options)
CELLS = {
    "rnn_tanh": ("rnn", {"nonlinearity": "tanh"}, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": ("rnn", {"nonlinearity": "relu"}, torch.nn.RNN, {"nonlinearity": "relu"}),
    "gru": ("gru", {"reset_after": True}, torch.nn.GRU, {}),
    "lstm": ("lstm", {}, torch.nn.LSTM, {}),
}
DTYPES = {"float32": (np.float32, torch.float32, 1e-5), "float64": (np.float64, torch.float64, 1e-10)}
LENGTHS = {"equal": None, "ragged": RAGGED}
F64 = seqfw.get_backend("numpy", dtype="float64")


# ----------------------------------------------------------------------------- helpers
def make_torch(name, num_layers, bidirectional, tdtype, seed=0, bias=True, scale=0.6):
    _, _, cls, opts = CELLS[name]
    module = cls(D, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias, **opts).to(tdtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            # a bit wider than torch's U(±1/√H) so that gates are far from 0.5 and relu units die
            p.uniform_(-scale, scale, generator=g)
    return module


def make_net(name, num_layers, bidirectional):
    cell, opts, _, _ = CELLS[name]
    return seqfw.recurrent(cell, D, H, num_layers=num_layers, bidirectional=bidirectional, **opts)


def numpy_state_dict(module):
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def to_ours(net, h, c=None):
    """torch-layout (L*dirs, B, H) arrays -> seqfw's list of {direction: cell state}."""
    dirs = len(net.layers[0].directions)
    out = []
    for l, layer in enumerate(net.layers):
        per = {}
        for k, d in enumerate(layer.directions):
            i = l * dirs + k
            fields = (h[i],) if c is None else (h[i], c[i])
            per[d] = layer.cells[d].state_type(*(np.array(f) for f in fields))
        out.append(per)
    return out


def to_torch_layout(net, states, field):
    """seqfw's list of {direction: cell state} -> (L*dirs, B, H) of ``field``."""
    return np.stack([getattr(layer_state[d], field) for layer, layer_state in zip(net.layers, states)
                     for d in layer.directions])


def run_torch(module, x, h0, c0, lengths):
    """-> (y, h_n, c_n or None) with autograd attached to x, h0, c0."""
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = None if c0 is None else torch.tensor(c0, requires_grad=True)
    hx = h0t if c0t is None else (h0t, c0t)
    if lengths is None:
        y, hn = module(xt, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
        out, hn = module(packed, hx)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    h_n, c_n = (hn, None) if c0t is None else hn
    return (xt, h0t, c0t), y, h_n, c_n


def assert_close(ours, theirs, tol, what):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    err = rel_error(ours.astype(np.float64), theirs.astype(np.float64))
    assert err <= tol, f"{what}: relative error {err:.3e} > {tol:.0e}"


# ----------------------------------------------------------------------------- full parity
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("lengths_kind", list(LENGTHS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
@pytest.mark.parametrize("name", list(CELLS))
def test_forward_backward_match_torch(name, bidirectional, num_layers, lengths_kind, dtype):
    np_dtype, t_dtype, tol = DTYPES[dtype]
    lengths = LENGTHS[lengths_kind]
    lstm = name == "lstm"
    dirs = 2 if bidirectional else 1
    rng = np.random.default_rng(1234)

    module = make_torch(name, num_layers, bidirectional, t_dtype, seed=7)
    net = make_net(name, num_layers, bidirectional)
    params = from_torch_state_dict(net, numpy_state_dict(module), seqfw.get_backend("numpy", dtype=dtype))

    x = rng.standard_normal((T, B, D)).astype(np_dtype)
    h0 = (0.5 * rng.standard_normal((num_layers * dirs, B, H))).astype(np_dtype)
    c0 = (0.5 * rng.standard_normal((num_layers * dirs, B, H))).astype(np_dtype) if lstm else None
    R = rng.standard_normal((T, B, dirs * H)).astype(np_dtype)
    if lengths is not None:
        R[np.arange(T)[:, None] >= np.asarray(lengths)[None, :]] = 0  # nothing on padding
    S = rng.standard_normal((num_layers * dirs, B, H)).astype(np_dtype)
    S2 = rng.standard_normal((num_layers * dirs, B, H)).astype(np_dtype) if lstm else None

    # torch
    (xt, h0t, c0t), yt, hnt, cnt = run_torch(module, x, h0, c0, lengths)
    loss = (yt * torch.tensor(R)).sum() + (hnt * torch.tensor(S)).sum()
    if lstm:
        loss = loss + (cnt * torch.tensor(S2)).sum()
    loss.backward()

    # seqfw
    lens = None if lengths is None else np.array(lengths)
    y, finals, cache = net.forward(params, x.copy(), lens, to_ours(net, h0, c0))
    assert y.dtype == np_dtype
    dy = R.copy()
    dx, dstate0, grads, _ = net.backward(params, dy, to_ours(net, S, S2), cache)

    # forward
    assert_close(y, yt.detach().numpy(), tol, "outputs y")
    if lengths is not None:
        pad = np.arange(T)[:, None] >= np.asarray(lengths)[None, :]
        assert np.all(y[pad] == 0), "outputs at padded positions must be exactly 0"
    assert_close(to_torch_layout(net, finals, "h"), hnt.detach().numpy(), tol, "final h (h_n)")
    if lstm:
        assert_close(to_torch_layout(net, finals, "c"), cnt.detach().numpy(), tol, "final c (c_n)")

    # backward: inputs and initial state
    assert dx.dtype == np_dtype
    assert_close(dx, xt.grad.numpy(), tol, "dL/dx")
    if lengths is not None:
        assert np.all(dx[pad] == 0), "padded inputs must get exactly zero gradient"
    assert_close(to_torch_layout(net, dstate0, "h"), h0t.grad.numpy(), tol, "dL/dh0")
    if lstm:
        assert_close(to_torch_layout(net, dstate0, "c"), c0t.grad.numpy(), tol, "dL/dc0")

    # backward: every torch parameter
    tgrads = to_torch_gradients(net, grads)
    named = dict(module.named_parameters())
    assert set(tgrads) == set(named)
    for key, p in named.items():
        assert p.grad is not None and float(p.grad.abs().max()) > 0, f"{key}: torch reference gradient is zero"
        assert_close(tgrads[key], p.grad.numpy(), tol, f"gradient of {key}")


# ----------------------------------------------------------------------------- interop details
def forward_np(net, params, x, lengths=None):
    y, finals, _ = net.forward(params, x.copy(), lengths)
    return y, finals


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
@pytest.mark.parametrize("name", list(CELLS))
def test_export_import_round_trip_is_exact(name, bidirectional):
    net = make_net(name, 2, bidirectional)
    params = net.init_params(np.random.default_rng(3), np, np.float64)
    sd = to_torch_state_dict(net, params)
    back = from_torch_state_dict(net, sd, F64)

    flat_a, flat_b = flatten(params), flatten(back)
    assert list(flat_a) == list(flat_b)  # same structure, same declaration order
    for path in flat_a:
        np.testing.assert_array_equal(flat_a[path], flat_b[path], err_msg=path)

    x = np.random.default_rng(4).standard_normal((T, B, D))
    lens = np.array(RAGGED)
    ya, fa = forward_np(net, params, x, lens)
    yb, fb = forward_np(net, back, x, lens)
    np.testing.assert_array_equal(ya, yb)
    for (pa, a), (_, b) in zip(leaves_with_paths(fa), leaves_with_paths(fb)):
        np.testing.assert_array_equal(a, b, err_msg=pa)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
@pytest.mark.parametrize("name", list(CELLS))
def test_exported_weights_load_into_torch(name, bidirectional):
    num_layers = 2
    net = make_net(name, num_layers, bidirectional)
    params = net.init_params(np.random.default_rng(5), np, np.float64)
    if name == "gru":  # make b_hn matter and differ from the r/z part of the bias
        params["layers"][0]["fwd"]["b_hn"] += 0.7
    module = make_torch(name, num_layers, bidirectional, torch.float64, seed=99)
    sd = to_torch_state_dict(net, params)
    assert set(sd) == set(module.state_dict())
    module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)

    rng = np.random.default_rng(6)
    x = rng.standard_normal((T, B, D))
    dirs = 2 if bidirectional else 1
    h0 = rng.standard_normal((num_layers * dirs, B, H))
    c0 = rng.standard_normal((num_layers * dirs, B, H)) if name == "lstm" else None
    _, yt, hnt, cnt = run_torch(module, x, h0, c0, RAGGED)
    y, finals, _ = net.forward(params, x.copy(), np.array(RAGGED), to_ours(net, h0, c0))
    assert_close(y, yt.detach().numpy(), 1e-12, "outputs y")
    assert_close(to_torch_layout(net, finals, "h"), hnt.detach().numpy(), 1e-12, "final h")
    if c0 is not None:
        assert_close(to_torch_layout(net, finals, "c"), cnt.detach().numpy(), 1e-12, "final c")


def test_import_accepts_tensors_and_casts_dtype():
    module = make_torch("lstm", 1, True, torch.float64, seed=1)
    net = make_net("lstm", 1, True)
    params = from_torch_state_dict(net, dict(module.state_dict()), seqfw.get_backend("numpy", dtype="float32"))
    for path, leaf in flatten(params).items():
        assert isinstance(leaf, np.ndarray) and leaf.dtype == np.float32, path
    W = module.state_dict()["weight_ih_l0_reverse"].numpy()
    np.testing.assert_allclose(params["layers"][0]["bwd"]["W_x"], W.T.astype(np.float32))
    b = (module.state_dict()["bias_ih_l0"] + module.state_dict()["bias_hh_l0"]).numpy()
    np.testing.assert_allclose(params["layers"][0]["fwd"]["b"], b.astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("name", list(CELLS))
def test_bias_free_torch_module_imports_with_zero_biases(name):
    module = make_torch(name, 2, True, torch.float64, seed=11, bias=False)
    sd = numpy_state_dict(module)
    assert not any(k.startswith("bias") for k in sd)
    net = make_net(name, 2, True)
    params = from_torch_state_dict(net, sd, F64)
    for layer in params["layers"]:
        for d, p in layer.items():
            assert np.all(p["b"] == 0), d
            if name == "gru":
                assert np.all(p["b_hn"] == 0), d
    rng = np.random.default_rng(12)
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((4, B, H))
    c0 = rng.standard_normal((4, B, H)) if name == "lstm" else None
    _, yt, hnt, _ = run_torch(module, x, h0, c0, RAGGED)
    y, finals, _ = net.forward(params, x.copy(), np.array(RAGGED), to_ours(net, h0, c0))
    assert_close(y, yt.detach().numpy(), 1e-12, "outputs y")
    assert_close(to_torch_layout(net, finals, "h"), hnt.detach().numpy(), 1e-12, "final h")


def test_full_lengths_match_unpacked_torch():
    """lengths == T everywhere goes through the same path as lengths=None, in both directions."""
    module = make_torch("lstm", 2, True, torch.float64, seed=2)
    net = make_net("lstm", 2, True)
    params = from_torch_state_dict(net, numpy_state_dict(module), F64)
    x = np.random.default_rng(8).standard_normal((T, B, D))
    _, yt, hnt, _ = run_torch(module, x, np.zeros((4, B, H)), np.zeros((4, B, H)), None)
    y, finals, _ = net.forward(params, x.copy(), np.full(B, T))
    assert_close(y, yt.detach().numpy(), 1e-12, "outputs y")
    assert_close(to_torch_layout(net, finals, "h"), hnt.detach().numpy(), 1e-12, "final h")


@pytest.mark.parametrize("cell, options", [
    ("lstm", {"peephole": True}),
    ("gru", {"reset_after": False}),
    ("gru", {}),  # Cho form is the default
    ("gru_simple", {}),
], ids=["lstm_peephole", "gru_cho", "gru_default", "gru_simple"])
def test_cells_without_torch_counterpart_are_refused(cell, options):
    net = seqfw.recurrent(cell, D, H, num_layers=1, **options)
    params = net.init_params(np.random.default_rng(0), np, np.float64)
    with pytest.raises(ValueError, match="no torch.nn counterpart"):
        to_torch_state_dict(net, params)
    with pytest.raises(ValueError, match="no torch.nn counterpart"):
        to_torch_gradients(net, params)
    G = {"lstm": 4, "gru": 3, "gru_simple": 2}[cell]
    sd = {"weight_ih_l0": np.zeros((G * H, D)), "weight_hh_l0": np.zeros((G * H, H))}
    with pytest.raises(ValueError, match="no torch.nn counterpart"):
        from_torch_state_dict(net, sd, F64)


@pytest.mark.parametrize("key", ["weight_ih_l1", "weight_hh_l0_reverse"])
def test_missing_weight_is_refused(key):
    module = make_torch("gru", 2, True, torch.float64)
    sd = numpy_state_dict(module)
    del sd[key]
    with pytest.raises(ValueError, match=f"lacks '{key}'"):
        from_torch_state_dict(make_net("gru", 2, True), sd, F64)


@pytest.mark.parametrize("key, shape", [
    ("weight_ih_l0", (4 * H, D + 1)),
    ("weight_hh_l1", (4 * H, H - 1)),
    ("bias_hh_l0", (4 * H + 1,)),
])
def test_wrong_shape_is_refused(key, shape):
    sd = numpy_state_dict(make_torch("lstm", 2, False, torch.float64))
    sd[key] = np.zeros(shape)
    with pytest.raises(ValueError, match=rf"'{key}' has shape \({shape[0]},"):
        from_torch_state_dict(make_net("lstm", 2, False), sd, F64)


def test_hidden_size_mismatch_is_refused():
    sd = numpy_state_dict(make_torch("rnn_tanh", 1, False, torch.float64))
    net = seqfw.recurrent("rnn", D, H + 1)
    with pytest.raises(ValueError, match="'weight_ih_l0' has shape"):
        from_torch_state_dict(net, sd, F64)


def test_unknown_keys_are_refused():
    # a 3-layer dict into a 2-layer network
    sd = numpy_state_dict(make_torch("rnn_tanh", 3, False, torch.float64))
    with pytest.raises(ValueError, match="keys this network does not") as info:
        from_torch_state_dict(make_net("rnn_tanh", 2, False), sd, F64)
    msg = str(info.value)
    assert all(f"{n}_l2" in msg for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    assert "_l1" not in msg
    # a bidirectional dict into a unidirectional network
    sd = numpy_state_dict(make_torch("lstm", 1, True, torch.float64))
    with pytest.raises(ValueError, match="weight_ih_l0_reverse"):
        from_torch_state_dict(make_net("lstm", 1, False), sd, F64)
    # one stray key is enough
    sd = numpy_state_dict(make_torch("rnn_tanh", 1, False, torch.float64))
    sd["weight_hr_l0"] = np.zeros((H, H))  # what proj_size would add
    with pytest.raises(ValueError, match="weight_hr_l0"):
        from_torch_state_dict(make_net("rnn_tanh", 1, False), sd, F64)


# ----------------------------------------------------------------------------- states in torch's layout
def test_import_needs_a_backend():
    sd = numpy_state_dict(make_torch("rnn_tanh", 1, False, torch.float64))
    with pytest.raises(TypeError):
        from_torch_state_dict(make_net("rnn_tanh", 1, False), sd)  # no default dtype to fall back on
    with pytest.raises(InteropError, match="needs a Backend"):
        from_torch_state_dict(make_net("rnn_tanh", 1, False), sd, np.float64)


@pytest.mark.parametrize("name", list(CELLS))
def test_states_in_torch_layout_reproduce_torch(name):
    """A 2-layer bidirectional torch module run from random h0 (c0): seqfw, started from
    ``from_torch_state(h0, c0)`` with the imported weights, gives torch's outputs, and
    ``to_torch_state`` of its final states is torch's h_n (c_n)."""
    lstm = name == "lstm"
    module = make_torch(name, 2, True, torch.float64, seed=21)
    net = make_net(name, 2, True)
    params = from_torch_state_dict(net, dict(module.state_dict()), F64)
    rng = np.random.default_rng(22)
    x = rng.standard_normal((T, B, D))
    h0 = torch.tensor(rng.standard_normal((4, B, H)))
    c0 = torch.tensor(rng.standard_normal((4, B, H))) if lstm else None

    with torch.no_grad():
        yt, hn = module(torch.tensor(x), (h0, c0) if lstm else h0)
    state0 = from_torch_state(net, h0, c0, backend=F64)  # tensors taken through np.asarray
    assert [list(s) for s in state0] == [["fwd", "bwd"], ["fwd", "bwd"]]
    assert all(type(s) is net.layers[0].cells["fwd"].state_type for layer in state0 for s in layer.values())
    # the API puts row layer * 2 + direction where the test's own transcription of torch's layout does
    for (path, a), (_, b) in zip(leaves_with_paths(state0), leaves_with_paths(to_ours(net, h0.numpy(),
                                                                                      None if c0 is None else c0.numpy()))):
        np.testing.assert_array_equal(a, b, err_msg=path)

    y, finals, _ = net.forward(params, x.copy(), None, state0)
    assert_close(y, yt.numpy(), 1e-12, "outputs y")
    out = to_torch_state(net, finals)
    if lstm:
        h_n, c_n = out
        assert_close(h_n, hn[0].numpy(), 1e-12, "h_n")
        assert_close(c_n, hn[1].numpy(), 1e-12, "c_n")
    else:
        assert isinstance(out, np.ndarray)
        assert_close(out, hn.numpy(), 1e-12, "h_n")
    # the initial state matters: from zeros the outputs differ
    y0, _, _ = net.forward(params, x.copy(), None)
    assert np.abs(y0 - y).max() > 1e-3


@pytest.mark.parametrize("name", list(CELLS))
def test_state_round_trip_is_exact(name):
    net = make_net(name, 2, True)
    rng = np.random.default_rng(23)
    state = [{d: cell.state_type(*(rng.standard_normal((B, H)) for _ in cell.state_type._fields))
              for d, cell in layer.cells.items()} for layer in net.layers]
    torch_layout = to_torch_state(net, state)
    back = from_torch_state(net, *(torch_layout if name == "lstm" else (torch_layout,)), backend=F64)
    pairs = list(zip(leaves_with_paths(state), leaves_with_paths(back)))
    assert len(pairs) == 4 * len(net.layers[0].cells["fwd"].state_type._fields)
    for (pa, a), (pb, b) in pairs:
        assert pa == pb
        np.testing.assert_array_equal(a, b, err_msg=pa)
        assert b.dtype == np.float64
    # row layer * num_directions + direction: layer 1's reverse direction is the last row
    h = torch_layout[0] if name == "lstm" else torch_layout
    np.testing.assert_array_equal(h[3], state[1]["bwd"].h)
    np.testing.assert_array_equal(h[1], state[0]["bwd"].h)
    # and into float32 when the backend says so
    f32 = from_torch_state(net, *(torch_layout if name == "lstm" else (torch_layout,)),
                           backend=seqfw.get_backend("numpy", dtype="float32"))
    assert all(leaf.dtype == np.float32 for _, leaf in leaves_with_paths(f32))


def test_state_refusals():
    lstm, gru = make_net("lstm", 2, True), make_net("gru", 2, True)
    h = np.zeros((4, B, H))
    with pytest.raises(InteropError, match=r"needs \(num_layers \* num_directions, B, H\) = \(4, 4, 5\)"):
        from_torch_state(gru, np.zeros((2, B, H)), backend=F64)
    with pytest.raises(InteropError, match=r"h0 has shape \(4, 5\).*needs its batch axis: h0\[:, None\]"):
        from_torch_state(gru, np.zeros((4, H)), backend=F64)
    with pytest.raises(InteropError, match=r"c0 has shape \(4, 4, 6\)"):
        from_torch_state(lstm, h, np.zeros((4, B, H + 1)), backend=F64)
    with pytest.raises(InteropError, match="needs c0 as well as h0"):
        from_torch_state(lstm, h, backend=F64)
    with pytest.raises(InteropError, match="c0 was given, but this network's cells keep no memory cell"):
        from_torch_state(gru, h, h, backend=F64)
    with pytest.raises(InteropError, match="needs a Backend"):
        from_torch_state(gru, h, backend="float64")
    with pytest.raises(InteropError, match=r"a list of 2 per-layer dicts with 'fwd' and 'bwd'"):
        to_torch_state(gru, [{"fwd": None}])
