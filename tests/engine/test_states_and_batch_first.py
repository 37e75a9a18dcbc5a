"""Every per-step state on request (``keep_states``, ``Stacked.states``) and the batch-first layout."""
import numpy as np
import pytest

from seqfw import get_backend, recurrent
from seqfw.engine.models import sequence_model
from seqfw.engine.recurrence import unroll
from seqfw.engine.tree import flatten, tree_map
from tests.conftest import CELL_CASES, case_id

T, B, D, H = 6, 3, 4, 5
TOL = {"rtol": 1e-12, "atol": 1e-13}
F64 = get_backend(dtype="float64", seed=11)


def _assert_trees_close(got, want):
    g, w = flatten(got), flatten(want)
    assert g.keys() == w.keys()
    for k in w:
        np.testing.assert_allclose(g[k], w[k], **TOL, err_msg=k)


@pytest.mark.parametrize("case", CELL_CASES, ids=case_id)
def test_state_at_t_is_the_final_state_of_the_first_t_plus_1_steps(case, rng):
    name, opts = case
    net = recurrent(name, D, H, num_layers=2, **opts)
    params = net.init_params(F64)
    x = rng.standard_normal((T, B, D))
    state0 = tree_map(lambda a: rng.standard_normal(a.shape), net.initial_state(B, F64))
    _, _, cache = net.forward(params, x, None, state0, keep_states=True)
    states = net.states(cache)
    assert [list(layer) for layer in states] == [["fwd"], ["fwd"]]
    assert all(a.shape == (T, B, H) for a in flatten(states).values())
    assert type(states[0]["fwd"]) is type(state0[0]["fwd"])  # the cell's own NamedTuple (h, and c for the LSTM)
    for t in range(T):
        _, finals, _ = net.forward(params, x[: t + 1], None, state0)
        _assert_trees_close(tree_map(lambda a, t=t: a[t], states), finals)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_ragged_bidirectional_states_end_in_the_final_states(name, rng):
    """Forward: the state at L-1 is the final one; reverse: the state at 0 is. Padding holds the final state."""
    lengths = np.array([6, 2, 4])
    net = recurrent(name, D, H, num_layers=2, bidirectional=True)
    params = net.init_params(F64)
    x = rng.standard_normal((T, B, D))
    _, finals, cache = net.forward(params, x, lengths, keep_states=True)
    states = net.states(cache)
    for layer, final in zip(states, finals):
        for d in ("fwd", "bwd"):
            for field, kept, last in zip(final[d]._fields, layer[d], final[d]):
                for b, L in enumerate(lengths):
                    end = L - 1 if d == "fwd" else 0
                    np.testing.assert_allclose(kept[end, b], last[b], **TOL, err_msg=f"{d}.{field} seq {b}")
                    np.testing.assert_array_equal(kept[L:, b], np.broadcast_to(last[b], (T - L, H)))
    # the reverse direction in input order: at t, its state after reading x<L-1> .. x<t> of that sequence alone
    cell, p = net.layers[0].cells["bwd"], params["layers"][0]["bwd"]
    for b, L in enumerate(lengths):
        for t in range(L):
            _, alone, _ = unroll(cell, p, x[t:L, b : b + 1][::-1], cell.initial_state(1, np, np.float64))
            np.testing.assert_allclose(states[0]["bwd"].h[t, b], alone.h[0], **TOL)


def test_states_are_not_kept_unless_asked(rng):
    net = recurrent("lstm", D, H, bidirectional=True)
    params = net.init_params(F64)
    _, _, cache = net.forward(params, rng.standard_normal((T, B, D)))
    assert cache.layers[0][0].states is None  # nothing allocated
    with pytest.raises(ValueError, match=r"kept no per-step states; run `net.forward\(..., keep_states=True\)`"):
        net.states(cache)


@pytest.mark.parametrize("name, bidirectional", [("lstm", True), ("gru", False), ("rnn", True)])
def test_batch_first_is_the_transposed_time_major_call(name, bidirectional, rng):
    net = recurrent(name, D, H, num_layers=2, bidirectional=bidirectional)
    params = net.init_params(F64)
    lengths = np.array([6, 3, 5])
    x = rng.standard_normal((T, B, D))
    state0 = tree_map(lambda a: rng.standard_normal(a.shape), net.initial_state(B, F64))
    dy = rng.standard_normal((T, B, net.output_size))
    dfinal = tree_map(lambda a: rng.standard_normal(a.shape), state0)

    def run(batch_first):
        tr = (lambda a: a.swapaxes(0, 1)) if batch_first else (lambda a: a)
        y, finals, cache = net.forward(params, tr(x), lengths, state0, keep_states=True, batch_first=batch_first)
        dx, ds0, grads, norms = net.backward(params, tr(dy), dfinal, cache, step_norms=True)
        return tr(y), finals, tr(dx), ds0, grads, tree_map(tr, norms), tree_map(tr, net.states(cache))

    time_major, batch_first = run(False), run(True)
    assert time_major[0].shape == (T, B, net.output_size)
    for got, want in zip(batch_first, time_major):
        _assert_trees_close(got, want)


def test_batch_first_shapes(rng):
    net = recurrent("lstm", D, H, bidirectional=True)
    params = net.init_params(F64)
    y, _, cache = net.forward(params, rng.standard_normal((B, T, D)), keep_states=True, batch_first=True)
    dx, _, _, norms = net.backward(params, np.ones_like(y), None, cache, step_norms=True)
    assert y.shape == (B, T, 2 * H) and dx.shape == (B, T, D) and norms[0]["bwd"].shape == (B, T)
    assert net.states(cache)[0]["fwd"].c.shape == (B, T, H)


@pytest.mark.parametrize("kind", ["many_to_many", "many_to_one", "one_to_one", "one_to_many"])
def test_model_logits_batch_first(kind, rng):
    V = 7
    model = sequence_model(kind, recurrent("gru", D, H, bidirectional=kind == "many_to_one"), V, "softmax", V, D)
    params = model.init_params(F64)
    ids, lengths = rng.integers(0, V, (T, B)), np.array([6, 4, 5])
    out, finals = model.logits(params, ids, lengths)
    out_bf, finals_bf = model.logits(params, ids.T, lengths, batch_first=True)
    want = out.swapaxes(0, 1) if model.per_step else out
    assert out_bf.shape == want.shape
    np.testing.assert_allclose(out_bf, want, **TOL)
    _assert_trees_close(finals_bf, finals)


def test_feature_model_logits_batch_first(rng):
    model = sequence_model("many_to_many", recurrent("lstm", D, H), 2, "mse")
    params = model.init_params(F64)
    x = rng.standard_normal((T, B, D))
    np.testing.assert_allclose(model.logits(params, x.swapaxes(0, 1), batch_first=True)[0],
                               model.logits(params, x)[0].swapaxes(0, 1), **TOL)
