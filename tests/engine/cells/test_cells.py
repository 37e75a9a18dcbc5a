"""Each cell against a literal transcription of the course equations, and its declarations."""
import numpy as np
import pytest

from seqfw import make_cell
from seqfw.cells import LSTMState
from seqfw.engine.recurrence import unroll
from tests.conftest import CELL_CASES, case_id


def sig(z):
    return 1 / (1 + np.exp(-z))


def course_step(name, opts, p, x, state):
    """The textbook equations with W [a, x] concatenations, written independently of the cells."""
    H = state.h.shape[1]

    def W(block):  # W_block acting on [a<t-1>, x<t>]: stack recurrent over input weights
        return np.vstack([p["W_h"][:, block * H:(block + 1) * H], p["W_x"][:, block * H:(block + 1) * H]])

    def b(block):
        return p["b"][block * H:(block + 1) * H]

    a_prev = state.h
    ax = np.hstack([a_prev, x])
    if name == "rnn":
        z = ax @ W(0) + b(0)
        return (np.tanh(z) if opts.get("nonlinearity", "tanh") == "tanh" else np.maximum(z, 0)),
    if name == "gru_simple":
        gu, c_tilde = sig(ax @ W(0) + b(0)), np.tanh(ax @ W(1) + b(1))
        return gu * c_tilde + (1 - gu) * a_prev,
    if name == "gru":
        gr, gu = sig(ax @ W(0) + b(0)), sig(ax @ W(1) + b(1))
        if opts.get("reset_after"):
            Wh, Wx = p["W_h"][:, 2 * H:], p["W_x"][:, 2 * H:]
            c_tilde = np.tanh(x @ Wx + b(2) + gr * (a_prev @ Wh + p["b_hn"]))
        else:
            c_tilde = np.tanh(np.hstack([gr * a_prev, x]) @ W(2) + b(2))
        return gu * c_tilde + (1 - gu) * a_prev,
    if name == "lstm":
        c_prev = state.c
        pre = [ax @ W(k) + b(k) for k in range(4)]
        if opts.get("peephole"):
            pre[0] = pre[0] + p["p_i"] * c_prev
            pre[1] = pre[1] + p["p_f"] * c_prev
        gu, gf, c_tilde = sig(pre[0]), sig(pre[1]), np.tanh(pre[2])
        c = gu * c_tilde + gf * c_prev
        if opts.get("peephole"):
            pre[3] = pre[3] + p["p_o"] * c
        return sig(pre[3]) * np.tanh(c), c
    raise AssertionError(name)


@pytest.mark.parametrize("case", CELL_CASES, ids=case_id)
def test_step_matches_the_course_equations(case, rng):
    name, opts = case
    cell = make_cell(name, 3, 4, **opts)
    p = cell.init_params(rng, np, np.float64)
    state = cell.state_type(*(rng.standard_normal((5, 4)) for _ in cell.state_type._fields))
    x = rng.standard_normal((5, 3))
    xw = x @ p["W_x"] + p["b"]
    h, new_state, _ = cell.forward(p, xw, state)
    expected = course_step(name, opts, p, x, state)
    np.testing.assert_allclose(h, expected[0], rtol=1e-12, atol=1e-12)
    for got, want in zip(new_state, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CELL_CASES, ids=case_id)
def test_declarations_shapes_and_state_structure(case, xp):
    name, opts = case
    cell = make_cell(name, 3, 4, **opts)
    p = cell.init_params(np.random.default_rng(0), xp, np.float32)
    assert all(v.dtype == np.float32 and v.shape == s.shape for v, s in zip(p.values(), cell.param_specs().values()))
    G = len(cell.GATES)
    assert p["W_x"].shape == (3, G * 4) and p["W_h"].shape == (4, G * 4) and p["b"].shape == (G * 4,)
    x = xp.asarray(np.random.default_rng(1).standard_normal((6, 2, 3)), dtype=np.float32)
    ys, final, _ = unroll(cell, p, x, cell.initial_state(2, xp, np.float32))
    assert ys.shape == (6, 2, 4) and ys.dtype == np.float32
    assert type(final) is cell.state_type and final._fields[0] == "h"
    assert all(s.shape == (2, 4) and s.dtype == np.float32 for s in final)


@pytest.mark.parametrize("case", CELL_CASES, ids=case_id)
def test_unrolled_equals_one_step_at_a_time(case, rng):
    name, opts = case
    cell = make_cell(name, 3, 4, **opts)
    p = cell.init_params(rng, np, np.float64)
    x = rng.standard_normal((7, 2, 3))
    ys, final, _ = unroll(cell, p, x, cell.initial_state(2, np, np.float64))
    state = cell.initial_state(2, np, np.float64)
    for t in range(7):
        h, state, _ = cell.forward(p, x[t] @ p["W_x"] + p["b"], state)
        np.testing.assert_allclose(ys[t], h, rtol=1e-13)
    for a, b in zip(final, state):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_lstm_forget_bias_is_one_by_default_and_configurable():
    H = 5
    b = make_cell("lstm", 2, H).init_params(np.random.default_rng(0), np, np.float64)["b"]
    assert np.all(b[H:2 * H] == 1.0) and np.all(np.abs(b[:H]) <= 1 / np.sqrt(H)) and np.any(b[:H] != 0)
    b = make_cell("lstm", 2, H, forget_bias=2.5).init_params(np.random.default_rng(0), np, np.float64)["b"]
    assert np.all(b[H:2 * H] == 2.5)


def test_peephole_and_reset_after_declare_their_extra_parameters():
    assert set(make_cell("lstm", 2, 3, peephole=True).param_specs()) == {"W_x", "W_h", "b", "p_i", "p_f", "p_o"}
    assert set(make_cell("gru", 2, 3, reset_after=True).param_specs()) == {"W_x", "W_h", "b", "b_hn"}
    assert set(make_cell("gru", 2, 3).param_specs()) == {"W_x", "W_h", "b"}
    assert isinstance(make_cell("lstm", 2, 3).initial_state(4, np, np.float64), LSTMState)


@pytest.mark.parametrize("name, opts, match", [
    ("rnn", {"nonlinearity": "sigmoid"}, "nonlinearity must be one of tanh, relu"),
    ("lstm", {"peephole": "yes"}, "peephole must be true or false"),
    ("lstm", {"forget_bias": float("nan")}, "forget_bias must be a finite number"),
    ("gru", {"reset_after": 1}, "reset_after must be true or false"),
])
def test_bad_cell_options_name_the_key(name, opts, match):
    with pytest.raises(ValueError, match=match):
        make_cell(name, 2, 3, **opts)


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_bad_sizes_are_refused(size):
    with pytest.raises(ValueError, match="hidden_size must be (a whole number )?>= 1"):
        make_cell("lstm", 2, size)
