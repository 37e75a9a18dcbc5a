"""``softmax`` and ``log_softmax`` against PyTorch's, on NumPy and (where a GPU is usable) CuPy."""
import numpy as np
import pytest

from seqfw.engine.backend import to_host
from seqfw.engine.functional import log_softmax, softmax
from seqfw.engine.models.decoding import log_softmax_rows

torch = pytest.importorskip("torch", reason="PyTorch is the reference softmax; install torch==2.13.0 (CPU) to run these")

OURS = {"softmax": softmax, "log_softmax": log_softmax}
THEIRS = {"softmax": torch.softmax, "log_softmax": torch.log_softmax}


def _theirs(name, z, axis):
    return THEIRS[name](torch.from_numpy(np.asarray(z)), dim=axis).numpy()


@pytest.mark.parametrize("name", list(OURS))
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_equals_torch_in_float64(name, axis, xp, rng):
    z = rng.standard_normal((4, 5, 7)) * 3
    got = OURS[name](xp.asarray(z), axis=axis)
    assert got.dtype == np.float64 and got.shape == z.shape
    np.testing.assert_allclose(to_host(got), _theirs(name, z, axis), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(OURS))
def test_stable_at_huge_logits(name, xp):
    """exp(1e4) overflows; after subtracting the row maximum no exponent is positive."""
    z = np.array([[1e4, -1e4, 0.0, 1e4 - 1], [-1e4, -1e4, -1e4 + 2, -1e4]])
    got = to_host(OURS[name](xp.asarray(z)))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, _theirs(name, z, -1), rtol=1e-12, atol=1e-12)
    if name == "softmax":
        np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-15)
        assert got[0, 1] == 0.0 and got[0, 0] > got[0, 3]
    else:
        assert got[0, 0] == pytest.approx(-np.log1p(np.exp(-1.0)), rel=1e-12)


@pytest.mark.parametrize("name", list(OURS))
def test_float32_stays_float32(name, xp, rng):
    z = (rng.standard_normal((6, 9)) * 1e3).astype(np.float32)  # large: float32 exp would overflow unshifted
    got = OURS[name](xp.asarray(z))
    assert got.dtype == np.float32
    np.testing.assert_allclose(to_host(got), _theirs(name, z, -1), rtol=1e-5, atol=1e-6)


def test_integers_are_computed_in_float64():
    got = softmax(np.array([[1, 2, 3]]))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _theirs("softmax", np.array([[1.0, 2.0, 3.0]]), -1), rtol=1e-15)


def test_input_is_left_alone(rng):
    z = rng.standard_normal((3, 4))
    before = z.copy()
    softmax(z), log_softmax(z)
    np.testing.assert_array_equal(z, before)


def test_decoding_log_probabilities_are_log_softmax_in_float64(rng):
    z = rng.standard_normal((3, 11)).astype(np.float32)
    got = log_softmax_rows(z)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, log_softmax(z.astype(np.float64)))


def test_a_scalar_and_an_empty_array_are_handled():
    from seqfw.engine.functional import log_softmax, softmax

    assert softmax(np.array(3.0)) == 1.0 and log_softmax(np.array(3.0)) == 0.0  # one entry: probability 1
    assert softmax(np.array([])).shape == (0,) and log_softmax(np.zeros((0, 3), dtype=np.float32)).dtype == np.float32
