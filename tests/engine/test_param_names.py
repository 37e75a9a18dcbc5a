"""Parameters by dotted name (``seqfw.engine.names``): get and set in place, the flat dict out and in,
and each refusal (unknown name, wrong shape, lossy dtype, missing or unknown names) with its words."""
import numpy as np
import pytest

import seqfw
from seqfw.engine import names
from seqfw.engine.errors import SeqfwError
from seqfw.engine.interop import InteropError
from seqfw.engine.models import EncoderDecoder, ManyToMany
from seqfw.engine.tree import leaves_with_paths

D, H = 3, 5
F64 = seqfw.get_backend("numpy", dtype="float64")
F32 = seqfw.get_backend("numpy", dtype="float32")


def lstm(num_layers=2, bidirectional=True, **options):
    return seqfw.recurrent("lstm", D, H, num_layers=num_layers, bidirectional=bidirectional, **options)


def draw(obj, dtype=np.float64, seed=0):
    return obj.init_params(np.random.default_rng(seed), np, dtype)


# -- names -----------------------------------------------------------------------------------------
def test_a_network_s_names_are_its_dotted_paths():
    net = lstm()
    flat = names.to_flat(draw(net))
    assert list(flat)[:3] == ["layers.0.fwd.W_x", "layers.0.fwd.W_h", "layers.0.fwd.b"]
    assert list(flat)[3:6] == ["layers.0.bwd.W_x", "layers.0.bwd.W_h", "layers.0.bwd.b"]
    assert len(flat) == 2 * 2 * 3
    assert flat["layers.0.fwd.W_x"].shape == (D, 4 * H)
    assert flat["layers.1.bwd.W_x"].shape == (2 * H, 4 * H)  # layer 1 reads both directions of layer 0
    peephole = names.to_flat(draw(seqfw.recurrent("lstm", D, H, peephole=True)))
    assert list(peephole) == [f"layers.0.fwd.{n}" for n in ("W_x", "W_h", "b", "p_i", "p_f", "p_o")]


def test_a_model_s_names_prefix_its_network():
    model = ManyToMany(lstm(1, False), 7, vocab_size=11, embed_dim=D)
    flat = names.to_flat(draw(model))
    assert list(flat) == ["embed.W", "rnn.layers.0.fwd.W_x", "rnn.layers.0.fwd.W_h", "rnn.layers.0.fwd.b",
                          "head.W", "head.b"]
    assert flat["embed.W"].shape == (11, D) and flat["head.W"].shape == (H, 7)
    encdec = EncoderDecoder(9, 8, D, lstm(1, False), lstm(1, False))
    assert [n for n in names.to_flat(draw(encdec)) if n.endswith("W_x") or ".W" in n[-2:]] == [
        "src_embed.W", "tgt_embed.W", "encoder.layers.0.fwd.W_x", "decoder.layers.0.fwd.W_x", "head.W"]


# -- get and set -----------------------------------------------------------------------------------
def test_get_is_the_tree_s_own_array():
    params = draw(lstm())
    assert names.get(params, "layers.1.bwd.W_h") is params["layers"][1]["bwd"]["W_h"]
    model = ManyToMany(lstm(1, False), 7, vocab_size=11, embed_dim=D)
    mp = draw(model)
    assert names.get(mp, "head.b") is mp["head"]["b"]
    assert names.get(mp, "rnn.layers.0.fwd.b") is mp["rnn"]["layers"][0]["fwd"]["b"]


def test_set_writes_in_place():
    params = draw(lstm())
    leaf = params["layers"][0]["bwd"]["W_x"]
    value = np.random.default_rng(1).standard_normal((D, 4 * H))
    names.set(params, "layers.0.bwd.W_x", value)
    assert params["layers"][0]["bwd"]["W_x"] is leaf  # the same array, new values
    np.testing.assert_array_equal(leaf, value)
    value[0, 0] = 99.0  # a copy was written, not the caller's array kept
    assert leaf[0, 0] != 99.0


def test_set_converts_float32_into_float64_exactly():
    params = draw(lstm())
    value = np.random.default_rng(2).standard_normal(4 * H).astype(np.float32)
    names.set(params, "layers.1.fwd.b", value)
    got = params["layers"][1]["fwd"]["b"]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, value.astype(np.float64))
    names.set(params, "layers.1.fwd.b", [0.5] * (4 * H))  # anything np.asarray reads
    assert np.all(got == 0.5)


def test_set_refuses_a_lossy_dtype():
    params = draw(lstm(), np.float32)
    before = params["layers"][0]["fwd"]["W_h"].copy()
    with pytest.raises(InteropError) as info:
        names.set(params, "layers.0.fwd.W_h", np.full((H, 4 * H), 0.1))
    msg = str(info.value)
    assert "'layers.0.fwd.W_h' is float32 and the value is float64" in msg
    assert "a mismatch is an error, not a silent cast" in msg
    assert "value.astype('float32')" in msg
    assert "build the network with the float64 backend" in msg
    np.testing.assert_array_equal(params["layers"][0]["fwd"]["W_h"], before)  # nothing written
    names.set(params, "layers.0.fwd.W_h", np.full((H, 4 * H), 0.1).astype(np.float32))  # the fix works
    assert np.all(params["layers"][0]["fwd"]["W_h"] == np.float32(0.1))


def test_set_refuses_a_wrong_shape():
    params = draw(lstm())
    with pytest.raises(InteropError, match=r"'layers.0.fwd.b' has shape \(20,\), the value given has \(20, 1\); "
                                           r"pass an array of shape \(20,\)"):
        names.set(params, "layers.0.fwd.b", np.zeros((4 * H, 1)))
    with pytest.raises(InteropError, match=r"has shape \(3, 20\), the value given has \(20, 3\)"):
        names.set(params, "layers.0.fwd.W_x", np.zeros((4 * H, D)))  # same size, transposed: still refused


def test_unknown_names_are_refused_with_a_suggestion():
    params = draw(lstm())
    with pytest.raises(InteropError) as info:
        names.get(params, "layers.0.fwd.W_q")
    msg = str(info.value)
    assert msg.startswith("no parameter 'layers.0.fwd.W_q' (did you mean 'layers.0.fwd.W_x'?): 'layers.0.fwd' "
                          "has W_x, W_h, b. Names are dotted paths such as 'layers.0.fwd.W_x'")
    with pytest.raises(InteropError, match=r"'layers' has 0, 1\."):
        names.get(params, "layers.2.fwd.W_x")
    with pytest.raises(InteropError, match=r"^no parameter 'layer.0.fwd.W_x' \(did you mean 'layers.0.fwd.W_x'\?\): "
                                           r"the top level has layers\."):
        names.set(params, "layer.0.fwd.W_x", np.zeros((D, 4 * H)))
    with pytest.raises(InteropError, match=r"'layers.0.bwd' is a group of parameters, not one: name one of "
                                           r"layers.0.bwd.W_x, layers.0.bwd.W_h, layers.0.bwd.b"):
        names.get(params, "layers.0.bwd")
    with pytest.raises(InteropError, match=r"no parameter 'layers.0.fwd.b.3' \(did you mean 'layers.0.fwd.b'\?\): "
                                           r"'layers.0.fwd.b' is already an array"):
        names.get(params, "layers.0.fwd.b.3")
    assert issubclass(InteropError, SeqfwError)


# -- the flat dict ---------------------------------------------------------------------------------
def test_to_flat_is_a_host_copy():
    params = draw(lstm())
    flat = names.to_flat(params)
    assert all(isinstance(v, np.ndarray) for v in flat.values())
    flat["layers.0.fwd.W_x"][...] = 7.0
    assert not np.any(params["layers"][0]["fwd"]["W_x"] == 7.0)


@pytest.mark.parametrize("cell, options", [("rnn", {"nonlinearity": "relu"}), ("gru", {"reset_after": True}),
                                           ("lstm", {"peephole": True}), ("gru_simple", {})])
def test_flat_round_trip_is_exact(cell, options):
    net = seqfw.recurrent(cell, D, H, num_layers=2, bidirectional=True, **options)
    params = draw(net, seed=4)
    flat = names.to_flat(params)
    back = names.from_flat(net, flat, F64)
    pairs = list(zip(leaves_with_paths(params), leaves_with_paths(back)))
    assert len(pairs) == len(flat)
    for (pa, a), (pb, b) in pairs:
        assert pa == pb and b.dtype == np.float64
        np.testing.assert_array_equal(a, b, err_msg=pa)
    x = np.random.default_rng(5).standard_normal((6, 2, D))
    np.testing.assert_array_equal(net.forward(params, x.copy())[0], net.forward(back, x.copy())[0])
    # a fresh tree: writing into it leaves the flat dict alone
    back["layers"][0]["fwd"]["W_x"][...] = 0
    assert np.any(flat["layers.0.fwd.W_x"] != 0)


def test_from_flat_takes_the_backend_s_dtype_and_a_model():
    model = ManyToMany(lstm(1, True), 7, vocab_size=11, embed_dim=D)
    params = draw(model, seed=6)
    back = names.from_flat(model, names.to_flat(params), F32)
    for path, leaf in leaves_with_paths(back):
        assert leaf.dtype == np.float32, path
    np.testing.assert_array_equal(back["head"]["W"], params["head"]["W"].astype(np.float32))
    np.testing.assert_array_equal(back["embed"]["W"], params["embed"]["W"].astype(np.float32))


def test_from_flat_refuses_missing_unknown_and_misshapen_names_in_one_message():
    net = lstm()
    flat = names.to_flat(draw(net))
    flat["layers.1.bwd.W_hh"] = flat.pop("layers.1.bwd.W_h")
    del flat["layers.0.fwd.b"]
    flat["layers.0.fwd.W_xx"] = np.zeros((D, 4 * H))  # beside a W_x that is there: no suggestion
    flat["layers.1.fwd.W_x"] = np.zeros((H, 4 * H))  # a unidirectional layer 0's size
    with pytest.raises(InteropError) as info:
        names.from_flat(net, flat, F64)
    msg = str(info.value)
    assert msg.startswith("these weights do not fit this Stacked: missing layers.0.fwd.b, layers.1.bwd.W_h; "
                          "unknown layers.1.bwd.W_hh (did you mean 'layers.1.bwd.W_h'?), layers.0.fwd.W_xx; "
                          "wrong shapes: layers.1.fwd.W_x is (5, 20), needs (10, 20).")
    assert "check num_layers, bidirectional, input_size, hidden_size" in msg


def test_from_flat_refuses_each_problem_alone():
    net = lstm(1, False)
    flat = names.to_flat(draw(net))
    with pytest.raises(InteropError, match=r"^these weights do not fit this Stacked: missing layers.0.fwd.W_h\."):
        names.from_flat(net, {k: v for k, v in flat.items() if k != "layers.0.fwd.W_h"}, F64)
    with pytest.raises(InteropError, match=r"unknown layers.1.fwd.W_x \(did you mean 'layers.0.fwd.W_x'\?\)\."):
        names.from_flat(net, {**flat, "layers.1.fwd.W_x": flat["layers.0.fwd.W_x"]}, F64)
    with pytest.raises(InteropError, match=r"wrong shapes: layers.0.fwd.b is \(20, 1\), needs \(20,\)\."):
        names.from_flat(net, {**flat, "layers.0.fwd.b": flat["layers.0.fwd.b"][:, None]}, F64)
    with pytest.raises(InteropError, match="from_flat needs a Backend"):
        names.from_flat(net, flat, np.float64)


def test_names_are_strings_spelt_as_to_flat_writes_them():
    params = draw(lstm())
    for bad in (None, 3, ""):
        with pytest.raises(InteropError, match="a parameter name is a dotted string such as 'layers.0.fwd.W_x'"):
            names.get(params, bad)
    for bad in ("layers.00.fwd.W_x", "layers.-1.fwd.W_x", "layers.2.fwd.W_x"):
        with pytest.raises(InteropError, match=rf"no parameter '{bad}'"):
            names.get(params, bad)
    with pytest.raises(InteropError, match=r"from_flat takes a dict \{dotted name: array\} \(as to_flat gives\), got list"):
        names.from_flat(lstm(), list(names.to_flat(params).items()), F64)
    assert "set" not in names.__all__  # a star import must not shadow the builtin


def test_a_column_bias_is_told_how_to_fit_and_a_torch_tensor_with_a_graph_is_taken():
    torch = pytest.importorskip("torch", reason="the tensor case needs torch==2.13.0 (CPU)")
    params = draw(lstm(1, False))
    with pytest.raises(InteropError, match=r"pass an array of shape \(20,\) \(a column bias \(H, 1\) is value\[:, 0\] here\)"):
        names.set(params, "layers.0.fwd.b", np.zeros((20, 1)))
    with pytest.raises(InteropError) as info:
        names.set(params, "layers.0.fwd.W_h", np.zeros((4, 20)))
    assert "column bias" not in str(info.value)
    value = torch.ones(20, dtype=torch.float64, requires_grad=True)
    names.set(params, "layers.0.fwd.b", value)
    assert np.array_equal(params["layers"][0]["fwd"]["b"], np.ones(20))
