"""Every engine test runs on both CPU executors of the cells' elementwise math (seqfw/engine/kernels.py):
the NumPy reference and the compiled path (Numba, the `fast` extra).

Without Numba the compiled variant is skipped, unless SEQFW_REQUIRE_NUMBA=1 (set by .ci/run), where
it fails instead: CI must not pass by running one path only.
"""
import importlib.util
import os

import pytest


@pytest.fixture(autouse=True, params=["numpy-path", "compiled-path"])
def cpu_path(request, monkeypatch):
    """Which CPU executor runs the kernels: SEQFW_NO_COMPILED=1 for the NumPy reference, unset for Numba."""
    from seqfw.engine import compiled

    if request.param == "numpy-path":
        monkeypatch.setenv("SEQFW_NO_COMPILED", "1")
        monkeypatch.setattr(compiled, "_enabled", False)  # the process's decision (compiled.available), restored after
        return "numpy"
    if importlib.util.find_spec("numba") is None:
        if os.environ.get("SEQFW_REQUIRE_NUMBA") == "1":
            pytest.fail("SEQFW_REQUIRE_NUMBA=1 but Numba is not installed: pip install '.[fast]'")
        pytest.skip("the compiled path needs Numba (pip install 'seqfw[fast]')")
    monkeypatch.delenv("SEQFW_NO_COMPILED", raising=False)
    monkeypatch.setattr(compiled, "_enabled", None)  # decided again, from the environment just set
    monkeypatch.setattr(compiled, "MIN_ENTRIES", 0)  # the tests' blocks are small: compile them all the same
    return "compiled"
