"""The fused gate math (seqfw/cells/fused.py), which CuPy traces into one kernel per step.

On the CPU the same function bodies run as NumPy code under ``fused.everywhere()``: whole
networks through them must match the in-place NumPy path and finite differences. On a GPU
the traced kernels must match NumPy.
"""
import numpy as np
import pytest

from seqfw.cells import fused
from seqfw.testing import assert_gradients_close, network_gradients
from seqfw.topologies import recurrent

FUSED_CASES = [("rnn", {}), ("gru", {"reset_after": True}), ("lstm", {})]  # the cells with a fused path


def _run(name, opts, xp, dtype, layers=2, bidirectional=True):
    rng = np.random.default_rng(0)
    net = recurrent(name, 5, 6, num_layers=layers, bidirectional=bidirectional, **opts)
    params = net.init_params(np.random.default_rng(1), xp, dtype)
    x = xp.asarray(rng.normal(size=(7, 4, 5)), dtype=dtype)
    ys, finals, cache = net.forward(params, x, xp.asarray(np.array([7, 5, 7, 2])))
    dys = xp.asarray(rng.normal(size=ys.shape), dtype=dtype)
    dx, ds0, grads, _ = net.backward(params, dys, None, cache)
    return ys, finals, dx, grads


def _flat(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flat(v, f"{prefix}{k}.")
    elif isinstance(tree, (tuple, list)):
        for k, v in enumerate(tree):
            yield from _flat(v, f"{prefix}{k}.")
    else:
        yield prefix.rstrip("."), tree


@pytest.mark.parametrize("name, opts", FUSED_CASES, ids=[c[0] for c in FUSED_CASES])
def test_fused_math_equals_the_in_place_numpy_path(name, opts):
    plain = dict(_flat(_run(name, opts, np, np.float64)))
    with fused.everywhere():
        assert fused.kernels(np) is not None  # really on the fused path
        fused_out = dict(_flat(_run(name, opts, np, np.float64)))
    assert plain.keys() == fused_out.keys() and len(plain) > 10
    for key in plain:
        np.testing.assert_allclose(fused_out[key], plain[key], rtol=1e-12, atol=1e-13, err_msg=key)


@pytest.mark.parametrize("name, opts", FUSED_CASES, ids=[c[0] for c in FUSED_CASES])
def test_fused_path_passes_the_finite_difference_check(name, opts):
    net = recurrent(name, 3, 4, num_layers=2, bidirectional=True, **opts)
    params = net.init_params(np.random.default_rng(0), np, np.float64)
    x = np.random.default_rng(1).normal(size=(5, 3, 3))
    with fused.everywhere():
        worst = assert_gradients_close(network_gradients(net, params, x, lengths=np.array([5, 3, 4])))
    assert 0 < worst < 1e-6


def test_peephole_and_cho_gru_keep_the_plain_path_even_when_forced():
    # no fused kernel for these variants: forcing must not change their results
    for name, opts in (("lstm", {"peephole": True}), ("gru", {}), ("gru_simple", {})):
        plain = dict(_flat(_run(name, opts, np, np.float64, layers=1, bidirectional=False)))
        with fused.everywhere():
            forced = dict(_flat(_run(name, opts, np, np.float64, layers=1, bidirectional=False)))
        for key in plain:
            np.testing.assert_array_equal(forced[key], plain[key], err_msg=f"{name}: {key}")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, opts", FUSED_CASES, ids=[c[0] for c in FUSED_CASES])
def test_cupy_fused_kernels_match_numpy(name, opts, dtype):
    from seqfw.backend import cupy_available, to_host

    if not cupy_available():
        pytest.skip("the fused kernels need CuPy and a CUDA device (none here)")
    import cupy

    assert fused.kernels(cupy) is not None
    ref = dict(_flat(_run(name, opts, np, dtype)))
    gpu = {k: to_host(v) for k, v in _flat(_run(name, opts, cupy, dtype))}
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for key in ref:
        np.testing.assert_allclose(gpu[key], ref[key], rtol=tol, atol=tol, err_msg=key)
