"""One step by hand: ``step``/``step_backward`` of a cell, ``Stacked.step``/``step_backward`` of a network.

Stepping T times must be the unrolled loop exactly (float64, 1e-12), and back-propagating by hand
through the steps must be ``backward``: the same dx, dstate0 and every gradient.
"""
import numpy as np
import pytest

from seqfw import get_backend, make_cell, recurrent
from seqfw.engine.gradcheck import numerical_grad, rel_error
from seqfw.engine.recurrence import step, step_backward
from seqfw.engine.tree import flatten, tree_add_, tree_map
from tests.conftest import CELL_CASES, case_id

T, B, D, H = 5, 3, 4, 6
TOL = {"rtol": 1e-12, "atol": 1e-12}


def _network(case, **topology):
    name, opts = case
    net = recurrent(name, D, H, num_layers=2, **topology, **opts)
    params = net.init_params(get_backend(dtype="float64", seed=7))
    return net, params


def _random_like(tree, rng):
    return tree_map(lambda a: rng.standard_normal(a.shape), tree)


def _assert_trees_close(got, want):
    g, w = flatten(got), flatten(want)
    assert g.keys() == w.keys()
    for k in w:
        np.testing.assert_allclose(g[k], w[k], **TOL, err_msg=k)


def _step_through(net, params, x, state):
    ys, caches = [], []
    for t in range(x.shape[0]):
        y, state, cache = net.step(params, x[t], state)
        ys.append(y)
        caches.append(cache)
    return np.stack(ys), state, caches


@pytest.mark.parametrize("case", CELL_CASES, ids=case_id)
def test_stepping_equals_the_unrolled_forward_and_backward(case, rng):
    net, params = _network(case)
    x = rng.standard_normal((T, B, D))
    state0 = _random_like(net.initial_state(B, np, np.float64), rng)
    y, finals, cache = net.forward(params, x, None, state0)
    ys, state, caches = _step_through(net, params, x, state0)
    np.testing.assert_allclose(ys, y, **TOL)
    _assert_trees_close(state, finals)

    dy = rng.standard_normal(y.shape)
    dfinal = _random_like(finals, rng)
    dx, dstate0, grads, _ = net.backward(params, dy, dfinal, cache)
    dxs, ds, summed = [None] * T, dfinal, None
    for t in reversed(range(T)):
        dxs[t], ds, g = net.step_backward(params, dy[t], ds, caches[t])
        summed = tree_add_(summed, g)
    np.testing.assert_allclose(np.stack(dxs), dx, **TOL)
    _assert_trees_close(ds, dstate0)
    _assert_trees_close(summed, grads)
    assert list(flatten(summed)) == list(flatten(params))  # the same tree, the same order


def test_a_missing_state_or_gradient_is_zero(rng):
    net, params = _network(("lstm", {}))
    x = rng.standard_normal((B, D))
    zeros = net.initial_state(B, np, np.float64)
    y, new, cache = net.step(params, x)
    y0, new0, _ = net.step(params, x, zeros)
    np.testing.assert_array_equal(y, y0)
    _assert_trees_close(new, new0)
    partial = net.step(params, x, [None, {"fwd": None}])[0]  # a None layer or direction: zeros too
    np.testing.assert_array_equal(partial, y)
    dy = rng.standard_normal(y.shape)
    a = net.step_backward(params, dy, None, cache)
    b = net.step_backward(params, dy, tree_map(np.zeros_like, new), cache)
    _assert_trees_close(a, b)
    c = net.step_backward(params, None, [None, {"fwd": None}], cache)
    np.testing.assert_array_equal(c[0], 0)


def test_stepping_applies_no_dropout(rng):
    net = recurrent("gru", D, H, num_layers=3, dropout=0.5)
    params = net.init_params(get_backend(dtype="float64"))
    x = rng.standard_normal((T, B, D))
    ys, _, _ = _step_through(net, params, x, None)
    np.testing.assert_allclose(ys, net.forward(params, x)[0], **TOL)  # the evaluation-mode forward


@pytest.mark.parametrize("case", CELL_CASES, ids=case_id)
def test_cell_step_backward_against_finite_differences(case, rng):
    name, opts = case
    cell = make_cell(name, D, H, **opts)
    params = tree_map(lambda a: rng.standard_normal(a.shape) * 0.5, cell.init_params(get_backend(dtype="float64")))
    x = rng.standard_normal((B, D))
    state = _random_like(cell.initial_state(B, np, np.float64), rng)
    R = rng.standard_normal((B, H))
    S = _random_like(state, rng)

    def loss():
        h, new, _ = step(cell, params, x, state)
        return float((h * R).sum() + sum((a * s).sum() for a, s in zip(new, S)))

    x_before = x.copy()
    _, _, cache = step(cell, params, x, state)
    np.testing.assert_array_equal(x, x_before)  # the cell's in-place writes go to a projection, not x
    dx, dprev, grads = step_backward(cell, params, R, S, cache)
    assert list(grads) == list(params)
    for name_, g in grads.items():
        assert isinstance(g, np.ndarray) and g.shape == params[name_].shape, name_  # dense, Outer resolved
        assert rel_error(g, numerical_grad(loss, params[name_])) < 1e-7, name_
    assert rel_error(dx, numerical_grad(loss, x)) < 1e-7
    for field, d, s in zip(state._fields, dprev, state):
        assert rel_error(d, numerical_grad(loss, s)) < 1e-7, field


def test_cell_step_refuses_a_sequence_instead_of_a_step(rng):
    cell = make_cell("rnn", D, H)
    params = cell.init_params(get_backend(dtype="float64"))
    with pytest.raises(ValueError, match=r"step: RNNCell expects one step's input \(B, 4\), got \(5, 3, 4\)"):
        step(cell, params, rng.standard_normal((T, B, D)), cell.initial_state(B, np, np.float64))


def test_a_bidirectional_network_cannot_be_stepped(rng):
    net, params = _network(("gru", {}), bidirectional=True)
    msg = (r"Stacked.step: layer 0 is bidirectional and cannot be stepped: its reverse direction reads the "
           r"sequence from the end, so its state at step t depends on inputs not seen yet. Run the whole "
           r"sequence with `net.forward\(params, x, lengths\)`, or step a unidirectional network "
           r"`?\(`bidirectional=False`\)")
    with pytest.raises(ValueError, match=msg):
        net.step(params, rng.standard_normal((B, D)))
    with pytest.raises(ValueError, match="Stacked.step_backward: layer 0 is bidirectional"):
        net.step_backward(params, None, None, [None, None])
