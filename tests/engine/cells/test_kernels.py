"""Each cell's math is written once (seqfw/engine/kernels.py) and each variant is its own class.

On NumPy the elementwise functions run as written; on CuPy each is fused into one kernel,
which must match NumPy (GPU only). The finite-difference checks of every cell variant are in
test_conformance.py and test_cells.py; here: how the math is chosen.
"""
import numpy as np
import pytest

from seqfw import make_cell, recurrent
from seqfw.cells import GRUCell, GRUResetAfterCell, LSTMCell, PeepholeLSTMCell, RNNCell
from seqfw.engine.cells.gru import GRU_MATH
from seqfw.engine.cells.lstm import LSTM_MATH
from tests.conftest import CELL_CASES

VARIANTS = CELL_CASES  # every cell and variant


@pytest.mark.parametrize("options, cls", [({}, LSTMCell), ({"peephole": False}, LSTMCell),
                                          ({"peephole": True}, PeepholeLSTMCell)])
def test_the_lstm_option_picks_the_class_once(options, cls):
    assert type(LSTMCell(3, 4, **options)) is cls and type(make_cell("lstm", 3, 4, **options)) is cls
    assert isinstance(LSTMCell(3, 4, **options), LSTMCell)


def test_the_gru_option_picks_the_class_once_even_positionally():
    assert type(GRUCell(3, 4)) is GRUCell and type(GRUCell(3, 4, True)) is GRUResetAfterCell
    assert type(LSTMCell(3, 4, True)) is PeepholeLSTMCell
    assert "b_hn" in GRUCell(3, 4, reset_after=True).param_specs() and "b_hn" not in GRUCell(3, 4).param_specs()
    assert {"p_i", "p_f", "p_o"} <= set(LSTMCell(3, 4, peephole=True).param_specs())


def test_the_variant_classes_build_directly_with_their_own_form():
    assert type(PeepholeLSTMCell(3, 4)) is PeepholeLSTMCell and PeepholeLSTMCell(3, 4).peephole is True
    assert type(GRUResetAfterCell(3, 4)) is GRUResetAfterCell and "b_hn" in GRUResetAfterCell(3, 4).param_specs()
    with pytest.raises(ValueError, match="peephole must be True for this class"):
        PeepholeLSTMCell(3, 4, peephole=False)


def test_a_plugin_may_subclass_a_variant_cell_with_options_of_its_own():
    class Forgetful(LSTMCell):
        def __init__(self, input_size, hidden_size, decay=0.5, peephole=False):
            super().__init__(input_size, hidden_size, peephole=peephole, forget_bias=-decay)

    cell = Forgetful(3, 4, decay=2.0)
    assert type(cell) is Forgetful and cell.forget_bias == -2.0 and "p_i" not in cell.param_specs()

    class Wide(GRUResetAfterCell):
        def __init__(self, input_size, hidden_size, scale=1.0):
            super().__init__(input_size, hidden_size, reset_after=True)
            self.scale = scale

    assert type(Wide(3, 4, scale=2.0)) is Wide and "b_hn" in Wide(3, 4).param_specs()

    class Confused(GRUCell):  # asks for the other form than its class computes: refused, not silently ignored
        def __init__(self, input_size, hidden_size):
            super().__init__(input_size, hidden_size, reset_after=True)

    with pytest.raises(ValueError, match="reset_after must be False for this class"):
        Confused(3, 4)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_a_non_boolean_variant_flag_is_refused(bad):
    with pytest.raises(ValueError, match="must be true or false"):
        GRUCell(3, 4, reset_after=bad)
    with pytest.raises(ValueError, match="must be true or false"):
        LSTMCell(3, 4, peephole=bad)


def test_numpy_runs_the_written_functions_and_builds_them_once(cpu_path):
    k = LSTM_MATH.on(np)
    assert k is LSTM_MATH.on(np)  # cached per array module and CPU path
    assert k.forward.__module__ == "seqfw.engine.cells.lstm"  # the plain function, not a traced kernel
    if cpu_path == "numpy":
        assert k.backward.__module__ == "seqfw.engine.cells.lstm"
    else:  # the same function compiled (seqfw/engine/compiled.py); its Python body is its reference
        assert type(k.backward).__name__ == "CompiledKernel" and k.backward.reference.__module__ == "seqfw.engine.cells.lstm"
    i, f, g, o, c, tc, h = k.forward(*(np.zeros((2, 3)),) * 4, np.ones((2, 3)))
    np.testing.assert_allclose(c, 0.5)  # σ(0) c_prev + σ(0) tanh(0)
    np.testing.assert_allclose(h, 0.5 * np.tanh(0.5))
    assert set(vars(GRU_MATH.on(np))) >= {"simple_forward", "cho_gates", "reset_after_forward"}


def test_a_hand_stepped_cell_can_densify_its_outer_gradients():
    cell = RNNCell(3, 4)
    params = cell.init_params(np.random.default_rng(0), np, np.float64)
    x = np.random.default_rng(1).standard_normal((2, 2, 3))
    a1, state, _ = cell.forward(params, x[0] @ params["W_x"] + params["b"], cell.initial_state(2, np, np.float64))
    a1 = a1.copy()
    _, _, cache = cell.forward(params, x[1] @ params["W_x"] + params["b"], state)
    dz, _, grads = cell.backward(params, np.ones((2, 4)), cell.initial_state(2, np, np.float64), cache)
    assert np.abs(a1).min() > 0
    np.testing.assert_allclose(grads["W_h"].dense(), a1.T @ dz, rtol=1e-12)


def _run(name, opts, xp, dtype):
    rng = np.random.default_rng(0)
    net = recurrent(name, 5, 6, num_layers=2, bidirectional=True, **opts)
    params = net.init_params(np.random.default_rng(1), xp, dtype)
    x = xp.asarray(rng.normal(size=(7, 4, 5)), dtype=dtype)
    ys, finals, cache = net.forward(params, x, xp.asarray(np.array([7, 5, 7, 2])))
    dys = xp.asarray(rng.normal(size=ys.shape), dtype=dtype)
    dx, _, grads, _ = net.backward(params, dys, None, cache)
    return ys, dx, grads


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, opts", VARIANTS, ids=[f"{n}{o}" for n, o in VARIANTS])
def test_cupy_fused_kernels_match_numpy(name, opts, dtype):
    from seqfw.backend import cupy_available, to_host
    from seqfw.engine.tree import flatten

    if not cupy_available():
        pytest.skip("the fused kernels need CuPy and a CUDA device (none here)")
    import cupy

    assert LSTM_MATH.on(cupy).forward is not LSTM_MATH.on(np).forward  # really traced
    ref, gpu = _run(name, opts, np, dtype), _run(name, opts, cupy, dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(ref[:2], gpu[:2]):
        np.testing.assert_allclose(to_host(b), a, rtol=tol, atol=tol)
    for key, value in flatten(ref[2]).items():
        np.testing.assert_allclose(to_host(flatten(gpu[2])[key]), value, rtol=tol, atol=tol, err_msg=key)
