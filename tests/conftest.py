import numpy as np
import pytest

from seqfw.backend import cupy_available

CELL_CASES = [
    ("rnn", {}),
    ("rnn", {"nonlinearity": "relu"}),
    ("gru_simple", {}),
    ("gru", {}),
    ("gru", {"reset_after": True}),
    ("lstm", {}),
    ("lstm", {"peephole": True}),
]


def case_id(case) -> str:
    name, opts = case
    return name + "".join(f"-{k}={v}" for k, v in opts.items())


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array module under test; cupy runs only where CuPy sees a CUDA device."""
    if request.param == "numpy":
        return np
    if not cupy_available():
        pytest.skip("cupy backend needs CuPy and a CUDA device (none here)")
    import cupy

    return cupy


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
