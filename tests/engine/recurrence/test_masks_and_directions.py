"""Padding, reversal, truncation and per-step gradient norms of the time loop."""
import numpy as np
import pytest

from seqfw import recurrent
from seqfw.engine.recurrence import carry_state, reverse_padded, truncated_bptt
from seqfw.engine.tree import flatten
from tests.conftest import CELL_CASES, case_id


@pytest.mark.parametrize("case", CELL_CASES, ids=case_id)
def test_appending_padding_to_one_sequence_changes_nothing(case, rng):
    """Bidirectional, 2 layers: sequence 1 padded from 5 to 9 steps with garbage keeps every number."""
    name, opts = case
    net = recurrent(name, 3, 4, num_layers=2, bidirectional=True, **opts)
    params = net.init_params(rng, np, np.float64)
    lengths = np.array([5, 3, 5])
    x = rng.standard_normal((5, 3, 3))
    dy = rng.standard_normal((5, 3, 8)) * (np.arange(5)[:, None] < lengths)[:, :, None]
    x_pad = np.concatenate([x, 50 * rng.standard_normal((4, 3, 3))])  # loud garbage in the padding
    dy_pad = np.concatenate([dy, rng.standard_normal((4, 3, 8))])

    def run(xs, dys, T):
        y, finals, cache = net.forward(params, xs, lengths, None)
        dstate = [{d: type(s)(*(np.ones_like(a) for a in s)) for d, s in layer.items()} for layer in finals]
        dx, ds0, grads, _ = net.backward(params, dys, dstate, cache)
        return y, finals, dx, ds0, grads

    short, long = run(x, dy, 5), run(x_pad, dy_pad, 9)
    np.testing.assert_array_equal(long[0][5:], 0)  # no output at padding
    np.testing.assert_allclose(long[0][:5], short[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(long[2][5:], 0)  # no gradient into padded inputs
    np.testing.assert_allclose(long[2][:5], short[2], rtol=1e-12, atol=1e-14)
    for tree_s, tree_l in [(short[1], long[1]), (short[3], long[3]), (short[4], long[4])]:
        fs, fl = flatten(tree_s), flatten(tree_l)
        assert fs.keys() == fl.keys()
        for k in fs:
            np.testing.assert_allclose(fl[k], fs[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_reverse_padded_reverses_each_sequence_within_its_length():
    x = np.arange(4)[:, None].repeat(3, axis=1) + 10 * np.arange(3)  # x[t, b] = t + 10 b
    r = reverse_padded(x, np.array([4, 2, 3]))
    np.testing.assert_array_equal(r[:, 0], [3, 2, 1, 0])
    np.testing.assert_array_equal(r[:, 1], [11, 10, 12, 13])  # padding stays where it was
    np.testing.assert_array_equal(r[:, 2], [22, 21, 20, 23])
    np.testing.assert_array_equal(reverse_padded(r, np.array([4, 2, 3])), x)


def test_reverse_direction_starts_at_each_sequences_last_real_token(rng):
    """The bwd half of the output at t=0 must equal a reverse run over the real tokens only."""
    net = recurrent("gru", 2, 3, bidirectional=True)
    params = net.init_params(rng, np, np.float64)
    x = rng.standard_normal((6, 2, 2))
    y = net.forward(params, x, np.array([6, 3]))[0]
    alone = net.forward(params, x[:3, 1:2], None)[0]
    np.testing.assert_allclose(y[:3, 1], alone[:, 0], rtol=1e-13)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_truncated_bptt_carries_the_forward_state_across_windows(rng, bidirectional):
    # one bidirectional layer: above it, even the forward direction reads the restarted reverse half
    L = 1 if bidirectional else 2
    net = recurrent("lstm", 2, 3, num_layers=L, bidirectional=bidirectional)
    params = net.init_params(rng, np, np.float64)
    x, lengths = rng.standard_normal((7, 3, 2)), np.array([7, 4, 6])
    full_y, full_final, _ = net.forward(params, x, lengths)
    outs = []

    def step(sl, lw, state):
        y, finals, _ = net.forward(params, x[sl], lw, state)
        outs.append(y)
        return 0.0, {"n": np.zeros(1)}, finals

    _, _, last = truncated_bptt(step, 7, 3, lengths)
    y = np.concatenate(outs)
    if not bidirectional:  # carrying the state makes the windows one sequence
        np.testing.assert_allclose(y, full_y, rtol=1e-13)
    else:  # forward halves agree; reverse halves restart per window, so they differ
        np.testing.assert_allclose(y[..., :3], full_y[..., :3], rtol=1e-13)
        assert not np.allclose(y[..., 3:], full_y[..., 3:])
        assert all(layer["bwd"] is None for layer in carry_state([{"fwd": 1, "bwd": 2}]))
    np.testing.assert_allclose(last[-1]["fwd"].h, full_final[-1]["fwd"].h, rtol=1e-13)


@pytest.mark.parametrize("k", [0, -2, 1.5])
def test_bad_bptt_window_is_refused(k):
    with pytest.raises(ValueError, match="truncated_bptt: k must be"):
        truncated_bptt(lambda *a: None, 5, k)


def test_step_gradient_norms_follow_the_chain_rule_and_cost_nothing_when_off(rng):
    """For a tanh RNN with the loss on the last output only, ∂L/∂a<t-1> = (∂L/∂a<t> * (1 - a<t>²)) W_aa^T."""
    net = recurrent("rnn", 2, 4, num_layers=2)
    params = net.init_params(rng, np, np.float64)
    x, lengths = rng.standard_normal((6, 3, 2)), np.array([6, 6, 6])
    y, _, cache = net.forward(params, x, lengths)
    dy = np.zeros_like(y)
    dy[-1] = rng.standard_normal((3, 4))
    *_, norms_off = net.backward(params, dy, None, cache)
    assert norms_off == [{"fwd": None}, {"fwd": None}]
    *_, norms = net.backward(params, dy, None, cache, step_norms=True)
    top = params["layers"][1]["fwd"]
    W_h, a = top["W_h"], y  # top layer outputs are its hidden states
    da, expected = dy[-1], [np.linalg.norm(dy[-1], axis=1)]
    for t in range(5, 0, -1):
        da = (da * (1 - a[t] ** 2)) @ W_h.T
        expected.append(np.linalg.norm(da, axis=1))  # one norm per sequence
    np.testing.assert_allclose(norms[1]["fwd"], expected[::-1], rtol=1e-12)
    assert norms[0]["fwd"].shape == (6, 3) and np.all(norms[0]["fwd"][-1] > 0)


def test_bidirectional_norms_are_in_original_time_order(rng):
    """Loss on the output at t=0 only: the reverse direction's gradient is largest at t=0, the forward one's is 0 after."""
    net = recurrent("gru", 2, 3, bidirectional=True)
    params = net.init_params(rng, np, np.float64)
    x = rng.standard_normal((5, 2, 2))
    y, _, cache = net.forward(params, x, np.array([5, 3]))
    dy = np.zeros_like(y)
    dy[0] = 1.0
    *_, norms = net.backward(params, dy, None, cache, step_norms=True)
    fwd, bwd = norms[0]["fwd"], norms[0]["bwd"]  # (T, B), per sequence
    assert np.all(fwd[0] > 0) and np.all(fwd[1:] == 0)
    assert np.all(bwd[:, 0] > 0) and np.all(bwd[:3, 1] > 0) and np.all(bwd[3:, 1] == 0)  # 0 at padding
    np.testing.assert_array_equal(bwd.argmax(axis=0), [0, 0])


@pytest.mark.parametrize("kwargs, match", [
    ({"num_layers": 0}, "num_layers must be >= 1"),
    ({"num_layers": 1.5}, "num_layers must be a whole number >= 1"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"dropout": -0.1}, r"dropout must be in \[0, 1\)"),
])
def test_bad_topology_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        recurrent("lstm", 2, 3, **kwargs)


def test_wrong_input_size_is_refused(rng):
    net = recurrent("lstm", 2, 3)
    with pytest.raises(ValueError, match="expects inputs of size 2"):
        net.forward(net.init_params(rng, np, np.float32), np.zeros((4, 1, 5), np.float32))
