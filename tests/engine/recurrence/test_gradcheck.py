"""Float64 central-difference checks of the hand-written BPTT over the whole acceptance matrix."""
import numpy as np
import pytest

from seqfw import recurrent
from seqfw.cells import HState, RNNCell
from seqfw.testing import assert_gradients_close, network_gradients
from seqfw.engine.recurrence import Stacked, Unidirectional
from seqfw.engine.tree import tree_map
from tests.conftest import CELL_CASES, case_id

T, B, D, H = 4, 3, 2, 3
RAGGED = np.array([4, 2, 3])


def _random_state(net, seed):
    rng = np.random.default_rng(seed)
    return tree_map(lambda a: rng.standard_normal(a.shape), net.initial_state(B, np, np.float64))


@pytest.mark.parametrize("bptt", [None, 2], ids=["full", "truncated2"])
@pytest.mark.parametrize("lengths", [None, RAGGED], ids=["equal", "ragged"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
@pytest.mark.parametrize("case", CELL_CASES, ids=case_id)
def test_bptt_matches_finite_differences(case, bidirectional, num_layers, lengths, bptt):
    name, opts = case
    net = recurrent(name, D, H, num_layers=num_layers, bidirectional=bidirectional, **opts)
    params = net.init_params(np.random.default_rng(0), np, np.float64)
    x = np.random.default_rng(1).standard_normal((T, B, D))
    results = network_gradients(net, params, x, lengths, _random_state(net, 2), bptt=bptt)
    # every parameter, the inputs and every initial state are checked
    n_params = sum(len(c.param_specs()) for layer in net.layers for c in layer.cells.values())
    assert len(results) == n_params + 1 + sum(len(c.state_type._fields) for layer in net.layers
                                              for c in layer.cells.values())
    assert assert_gradients_close(results, tol=1e-6) <= 1e-6


@pytest.mark.parametrize("case", [("gru", {}), ("lstm", {})], ids=case_id)
def test_dropout_between_layers_is_differentiated_with_its_mask(case):
    name, opts = case
    net = recurrent(name, D, H, num_layers=3, bidirectional=True, dropout=0.4, **opts)
    params = net.init_params(np.random.default_rng(0), np, np.float64)
    x = np.random.default_rng(1).standard_normal((T, B, D))

    def noise(shape):  # the same mask on every evaluation, as within one training step
        return np.random.default_rng(9).random(shape)

    results = network_gradients(net, params, x, RAGGED, train=True, noise=noise)
    assert_gradients_close(results)
    y_train = net.forward(params, x, None, train=True, noise=noise)[0]
    y_eval = net.forward(params, x, None, train=False)[0]
    assert not np.allclose(y_train, y_eval)  # dropout really was applied while training


class _BrokenRNNCell(RNNCell):
    """An RNN whose backward forgets the tanh derivative: the check must catch it."""

    def backward(self, params, da, dstate, cache):
        a_prev, a = cache
        dz = da + dstate.h
        return dz, HState(dz @ params["W_h"].T), {"W_h": a_prev.T @ dz}


def test_the_check_names_the_first_wrong_gradient():
    net = Stacked([Unidirectional(_BrokenRNNCell(D, H))])
    params = net.init_params(np.random.default_rng(0), np, np.float64)
    x = np.random.default_rng(1).standard_normal((T, B, D))
    with pytest.raises(AssertionError, match=r"gradient of params\.layers\.0\.fwd\.W_x is wrong: relative error"):
        assert_gradients_close(network_gradients(net, params, x))
