"""Weights in and out of every layout (``seqfw.engine.layouts``, ``names``, ``interop``), for every built-in
cell: exact round trips, what each layout holds entry by entry, a literal CS231n LSTM step run from a
CS231n-ordered import, and the refusals with their words."""
import numpy as np
import pytest

import seqfw
from seqfw.engine import layouts, names
from seqfw.engine.cells import Cell, LSTMCell, Param, uniform
from seqfw.engine.interop import (
    InteropError,
    from_torch_state_dict,
    to_torch_state_dict,
)
from seqfw.engine.recurrence import Stacked, Unidirectional
from seqfw.engine.tree import leaves_with_paths

D, H = 3, 5
F64 = seqfw.get_backend("numpy", dtype="float64")
F32 = seqfw.get_backend("numpy", dtype="float32")

# name -> (cell, options, course names of one cell, torch-able)
CELLS = {
    "rnn_tanh": ("rnn", {"nonlinearity": "tanh"}, ["Wa", "ba"], True),
    "rnn_relu": ("rnn", {"nonlinearity": "relu"}, ["Wa", "ba"], True),
    "gru_simple": ("gru_simple", {}, ["Wu", "bu", "Wc", "bc"], False),
    "gru_cho": ("gru", {"reset_after": False}, ["Wr", "br", "Wu", "bu", "Wc", "bc"], False),
    "gru_reset_after": ("gru", {"reset_after": True}, ["Wr", "br", "Wu", "bu", "Wc", "bc", "bhc"], True),
    "lstm": ("lstm", {"peephole": False}, ["Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo"], True),
    "lstm_peephole": ("lstm", {"peephole": True}, ["Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "pf", "pi", "po"],
                      False),
}


def make(name, num_layers=2, bidirectional=True):
    cell, options, _, _ = CELLS[name]
    return seqfw.recurrent(cell, D, H, num_layers=num_layers, bidirectional=bidirectional, **options)


def draw(net, seed=0):
    params = net.init_params(np.random.default_rng(seed), np, np.float64)
    for _, leaf in leaves_with_paths(params):  # wider than the init, every entry distinct
        leaf += np.random.default_rng(seed + 1).standard_normal(leaf.shape)
    return params


def assert_same_tree(a, b, dtype=np.float64):
    pa, pb = list(leaves_with_paths(a)), list(leaves_with_paths(b))
    assert [p for p, _ in pa] == [p for p, _ in pb]  # same names, same declaration order
    for (path, x), (_, y) in zip(pa, pb):
        assert y.dtype == dtype, path
        np.testing.assert_array_equal(x, y, err_msg=path)


def orders(gates):
    """Several permutations of ``gates``: the cell's own, reversed, rotated by one."""
    return [tuple(gates), tuple(gates[::-1]), tuple(gates[1:]) + (gates[0],)]


# -- exact round trips, every layout, every cell ------------------------------------------------------
@pytest.mark.parametrize("name", list(CELLS))
def test_flat_names_round_trip(name):
    net = make(name)
    params = draw(net)
    assert_same_tree(params, names.from_flat(net, names.to_flat(params), F64))


@pytest.mark.parametrize("name", list(CELLS))
def test_course_round_trip(name):
    net = make(name)
    params = draw(net)
    course = layouts.to_course(net, params)
    letters = CELLS[name][2]
    assert list(course) == [f"layers.{k}.{d}.{n}" for k in (0, 1) for d in ("fwd", "bwd") for n in letters]
    assert course["layers.0.fwd." + letters[0]].shape == (H, H + D)
    assert course["layers.1.bwd." + letters[0]].shape == (H, H + 2 * H)  # layer 1 reads 2H features
    assert all(course[f"layers.0.bwd.{n}"].shape == (H, 1) for n in letters if not n.startswith("W"))
    assert_same_tree(params, layouts.from_course(net, course, F64))
    # one cell alone, too
    cell, p = net.layers[1].cells["bwd"], params["layers"][1]["bwd"]
    assert_same_tree(p, layouts.cell_from_course(cell, layouts.cell_to_course(cell, p), F64))


@pytest.mark.parametrize("transpose", [False, True], ids=["rows", "transposed"])
@pytest.mark.parametrize("name", list(CELLS))
def test_packed_round_trip_in_any_order(name, transpose):
    net = make(name)
    params = draw(net)
    gates = net.layers[0].cells["fwd"].GATES
    for order in orders(gates):
        flat = layouts.to_packed(net, params, order, transpose)
        assert flat["layers.0.fwd.W_x"].shape == ((len(gates) * H, D) if transpose else (D, len(gates) * H))
        assert_same_tree(params, layouts.from_packed(net, flat, order, F64, transpose))


@pytest.mark.parametrize("name", [n for n, c in CELLS.items() if c[3]])
def test_torch_round_trip(name):
    net = make(name)
    params = draw(net)
    assert_same_tree(params, from_torch_state_dict(net, to_torch_state_dict(net, params), F64))


@pytest.mark.parametrize("name", ["lstm", "gru_reset_after"])
def test_importers_take_the_backend_s_dtype(name):
    net = make(name)
    params = draw(net)
    gates = net.layers[0].cells["fwd"].GATES
    built = [names.from_flat(net, names.to_flat(params), F32),
             layouts.from_course(net, layouts.to_course(net, params), F32),
             layouts.from_packed(net, layouts.to_packed(net, params, gates[::-1]), gates[::-1], F32)]
    for tree in built:
        for path, leaf in leaves_with_paths(tree):
            assert leaf.dtype == np.float32, path
            np.testing.assert_array_equal(leaf, names.get(params, path).astype(np.float32))


# -- what each layout holds, entry by entry -------------------------------------------------------------
def test_course_matrices_are_the_gate_blocks_recurrent_first():
    net = make("lstm_peephole", 1, False)
    params = draw(net)
    p = params["layers"][0]["fwd"]
    c = layouts.cell_to_course(net.layers[0].cells["fwd"], p)
    blocks = {"i": slice(0, H), "f": slice(H, 2 * H), "g": slice(2 * H, 3 * H), "o": slice(3 * H, 4 * H)}
    for letter, gate in (("f", "f"), ("i", "i"), ("c", "g"), ("o", "o")):
        k = blocks[gate]
        np.testing.assert_array_equal(c[f"W{letter}"][:, :H], p["W_h"][:, k].T)  # acts on a<t-1>
        np.testing.assert_array_equal(c[f"W{letter}"][:, H:], p["W_x"][:, k].T)  # acts on x<t>
        np.testing.assert_array_equal(c[f"b{letter}"][:, 0], p["b"][k])
    for course, ours in (("pf", "p_f"), ("pi", "p_i"), ("po", "p_o")):
        np.testing.assert_array_equal(c[course], p[ours][:, None])


def test_reset_after_gru_course_names():
    net = make("gru_reset_after", 1, False)
    params = draw(net)
    p = params["layers"][0]["fwd"]
    c = layouts.cell_to_course(net.layers[0].cells["fwd"], p)
    np.testing.assert_array_equal(c["Wu"], np.concatenate([p["W_h"][:, H:2 * H].T, p["W_x"][:, H:2 * H].T], axis=1))
    np.testing.assert_array_equal(c["bhc"], p["b_hn"][:, None])


def test_packed_blocks_follow_the_order():
    net = make("lstm", 1, False)
    p = draw(net)["layers"][0]["fwd"]
    cell = net.layers[0].cells["fwd"]
    ifog = layouts.cell_to_packed(cell, p, ("i", "f", "o", "g"))
    block = {g: slice(k * H, (k + 1) * H) for k, g in enumerate("ifgo")}
    for j, g in enumerate("ifog"):
        for name in ("W_x", "W_h", "b"):
            np.testing.assert_array_equal(ifog[name][..., j * H:(j + 1) * H], p[name][..., block[g]])
    keras = layouts.cell_to_packed(cell, p, ("i", "f", "g", "o"))  # Keras' LSTM order is seqfw's
    for name in p:
        np.testing.assert_array_equal(keras[name], p[name])
    transposed = layouts.cell_to_packed(cell, p, ("i", "f", "o", "g"), transpose=True)
    np.testing.assert_array_equal(transposed["W_h"], ifog["W_h"].T)
    np.testing.assert_array_equal(transposed["b"], ifog["b"])  # a vector stays a vector


def test_extras_pass_through_a_packed_order_unchanged():
    net = make("lstm_peephole", 1, False)
    p = draw(net)["layers"][0]["fwd"]
    out = layouts.cell_to_packed(net.layers[0].cells["fwd"], p, ("o", "g", "f", "i"), transpose=True)
    assert list(out) == ["W_x", "W_h", "b", "p_i", "p_f", "p_o"]
    for name in ("p_i", "p_f", "p_o"):
        np.testing.assert_array_equal(out[name], p[name])


def test_course_data_converters():
    x = np.random.default_rng(7).standard_normal((D, 4, 6))  # (n_x, m, T_x)
    tm = layouts.course_inputs(x)
    assert tm.shape == (6, 4, D) and tm.flags["C_CONTIGUOUS"]
    assert tm[5, 2, 1] == x[1, 2, 5]
    np.testing.assert_array_equal(layouts.course_outputs(tm), x)


# -- a CS231n LSTM step, literally, from a CS231n-ordered import ---------------------------------------------
def cs231n_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """CS231n's LSTM step: x (N, D), prev_h (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,)."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = (cs231n_sigmoid(a[:, :H]), cs231n_sigmoid(a[:, H:2 * H]), cs231n_sigmoid(a[:, 2 * H:3 * H]),
                  np.tanh(a[:, 3 * H:]))
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c


def lstm_forward(x, h0, Wx, Wh, b):
    """CS231n's LSTM over a sequence: x (N, T, D), h0 (N, H) -> h (N, T, H); c starts at zero."""
    N, T, _ = x.shape
    h, prev_h, prev_c = np.zeros((N, T, h0.shape[1])), h0, np.zeros_like(h0)
    for t in range(T):
        prev_h, prev_c = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
    return h


def test_cs231n_ordered_import_reproduces_cs231n_lstm():
    rng = np.random.default_rng(8)
    N, T = 4, 7
    Wx, Wh, b = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    expected = lstm_forward(x, h0, Wx, Wh, b)

    net = make("lstm", 1, False)
    cell = net.layers[0].cells["fwd"]
    params = {"layers": [{"fwd": layouts.cell_from_packed(cell, {"W_x": Wx, "W_h": Wh, "b": b},
                                                          ("i", "f", "o", "g"), F64)}]}
    state0 = [{"fwd": cell.state_type(h0.copy(), np.zeros((N, H)))}]
    y, _, _ = net.forward(params, x.transpose(1, 0, 2).copy(), None, state0)  # CS231n is batch-first
    np.testing.assert_allclose(y.transpose(1, 0, 2), expected, rtol=1e-12, atol=1e-12)
    # the order matters: read as seqfw's own (i, f, g, o) the same arrays give another network
    wrong = {"layers": [{"fwd": layouts.cell_from_packed(cell, {"W_x": Wx, "W_h": Wh, "b": b},
                                                         ("i", "f", "g", "o"), F64)}]}
    y_wrong, _, _ = net.forward(wrong, x.transpose(1, 0, 2).copy(), None, state0)
    assert np.abs(y_wrong.transpose(1, 0, 2) - expected).max() > 0.1
    # and back out in CS231n's order, the arrays given
    out = layouts.to_packed(net, params, ("i", "f", "o", "g"))
    for name, value in (("W_x", Wx), ("W_h", Wh), ("b", b)):
        np.testing.assert_array_equal(out[f"layers.0.fwd.{name}"], value)


# -- refusals ---------------------------------------------------------------------------------------------
class PlainCell(Cell):
    """A plugin's cell: blocks declared, no course names."""

    GATES = ("a", "b")

    def param_specs(self):
        D, H, init = self.input_size, self.hidden_size, uniform(0.1)
        return {"W_x": Param((D, 2 * H), init, blocks=self.GATES), "W_h": Param((H, 2 * H), init, blocks=self.GATES),
                "b": Param((2 * H,), init, blocks=self.GATES), "s": Param((H,), init)}


class ExtraLSTMCell(LSTMCell):
    """Derives from a built-in and adds a parameter, but keeps the inherited course names."""

    def param_specs(self):
        return {**super().param_specs(), "scale": Param((self.hidden_size,), uniform(0.1))}


def test_a_cell_without_course_names_is_refused_but_packs():
    cell = PlainCell(D, H)
    p = cell.init_params(np.random.default_rng(0), np, np.float64)
    with pytest.raises(InteropError, match=r"^PlainCell has no course layout: its class names no course gate "
                                           r"letters \(COURSE_NAMES"):
        layouts.cell_to_course(cell, p)
    with pytest.raises(InteropError, match="PlainCell has no course layout"):
        layouts.cell_from_course(cell, {}, F64)
    # its declared blocks are enough for a packed order, its own vector passing through
    out = layouts.cell_to_packed(cell, p, ("b", "a"))
    np.testing.assert_array_equal(out["W_x"], np.concatenate([p["W_x"][:, H:], p["W_x"][:, :H]], axis=1))
    np.testing.assert_array_equal(out["s"], p["s"])
    assert_same_tree(p, layouts.cell_from_packed(cell, out, ("b", "a"), F64))
    net = Stacked([Unidirectional(cell)])
    with pytest.raises(InteropError, match="PlainCell has no course layout"):
        layouts.to_course(net, {"layers": [{"fwd": p}]})


def test_inherited_course_names_that_miss_a_parameter_are_refused():
    cell = ExtraLSTMCell(D, H)
    p = cell.init_params(np.random.default_rng(0), np, np.float64)
    with pytest.raises(InteropError, match=r"ExtraLSTMCell's course names .* do not cover its gates .* and "
                                           r"parameters \['W_x', 'W_h', 'b', 'scale'\].*must set its own "
                                           r"COURSE_NAMES and COURSE_VECTORS"):
        layouts.cell_to_course(cell, p)


@pytest.mark.parametrize("order", [("i", "f", "o"), ("i", "f", "o", "o"), ("i", "f", "o", "z"), "ifgoo"])
def test_an_order_that_is_not_a_permutation_is_refused(order):
    net = make("lstm", 1, False)
    params = draw(net)
    with pytest.raises(InteropError, match=r"is not a permutation of LSTMCell's gates \('i', 'f', 'g', 'o'\): "
                                           r"name each gate once"):
        layouts.to_packed(net, params, order)
    with pytest.raises(InteropError, match="is not a permutation of LSTMCell's gates"):
        layouts.from_packed(net, layouts.to_packed(net, params, "ifgo"), order, F64)


def test_course_weights_that_do_not_fit_are_refused():
    net = make("lstm", 2, True)
    course = layouts.to_course(net, draw(net))
    del course["layers.1.bwd.Wo"]
    course["layers.0.fwd.Wff"] = course.pop("layers.0.fwd.Wf")
    course["layers.0.bwd.bf"] = course["layers.0.bwd.bf"][:, 0]
    with pytest.raises(InteropError) as info:
        layouts.from_course(net, course, F64)
    msg = str(info.value)
    assert msg.startswith("these weights do not fit this network's course layout: missing layers.0.fwd.Wf, "
                          "layers.1.bwd.Wo; unknown layers.0.fwd.Wff (did you mean 'layers.0.fwd.Wf'?); "
                          "wrong shapes: layers.0.bwd.bf is (5,), needs (5, 1).")
    assert "one (H, H + D) matrix and one (H, 1) bias per gate, recurrent block first" in msg


def test_a_peephole_network_needs_its_peepholes():
    plain, peephole = make("lstm", 1, False), make("lstm_peephole", 1, False)
    with pytest.raises(InteropError, match=r"missing layers.0.fwd.pf, layers.0.fwd.pi, layers.0.fwd.po\."):
        layouts.from_course(peephole, layouts.to_course(plain, draw(plain)), F64)
    with pytest.raises(InteropError, match=r"layout: unknown layers.0.fwd.p_i, layers.0.fwd.p_f, layers.0.fwd.p_o\. "):
        layouts.from_packed(plain, layouts.to_packed(peephole, draw(peephole), "ifgo"), "ifgo", F64)


def test_packed_shapes_are_checked_against_transpose():
    net = make("gru_cho", 1, False)
    flat = layouts.to_packed(net, draw(net), ("n", "r", "z"))
    with pytest.raises(InteropError, match=r"wrong shapes: layers.0.fwd.W_x is \(3, 15\), needs \(15, 3\); "
                                           r"layers.0.fwd.W_h is \(5, 15\), needs \(15, 5\)\. Packed in order "
                                           r"\('n', 'r', 'z'\) with transpose: W_x \(G\*H, D\), W_h \(G\*H, H\)"):
        layouts.from_packed(net, flat, ("n", "r", "z"), F64, transpose=True)


def test_other_refusals():
    net = make("rnn_tanh", 1, False)
    params = draw(net)
    with pytest.raises(InteropError, match="from_course needs a Backend"):
        layouts.from_course(net, layouts.to_course(net, params), "float64")
    with pytest.raises(InteropError, match="cell_from_packed needs a Backend"):
        layouts.cell_from_packed(net.layers[0].cells["fwd"], params["layers"][0]["fwd"], "a", None)
    with pytest.raises(InteropError, match=r"expected a Stacked network's parameters.*params\['rnn'\]"):
        layouts.to_course(net, {"rnn": params, "head": {}})
    with pytest.raises(InteropError, match=r"course_inputs takes x \(n_x, m, T_x\), three axes; got shape \(3, 4\)"):
        layouts.course_inputs(np.zeros((3, 4)))
    with pytest.raises(InteropError, match=r"these weights do not fit this RNNCell: .*wrong shapes: W_x is "
                                           r"\(5, 5\), needs \(3, 5\)"):
        layouts.cell_to_course(net.layers[0].cells["fwd"], {**params["layers"][0]["fwd"], "W_x": np.zeros((H, H))})


def test_from_course_names_a_learner_s_two_usual_slips():
    net = make("lstm", 1, False)
    course = layouts.cell_to_course(net.layers[0].cells["fwd"], draw(net)["layers"][0]["fwd"])
    with pytest.raises(InteropError) as info:
        layouts.from_course(net, {**course, "Wy": np.zeros((2, 5)), "by": np.zeros((2, 1))}, F64)
    msg = str(info.value)
    assert "These are one cell's names: prefix each with its place, e.g. 'layers.0.fwd.' + name, or use " \
           "cell_from_course(cell, course, backend) for one cell." in msg
    assert "Wy and by are the output layer's (ŷ = softmax(Wy a + by)), a model's head, not the cell's" in msg
