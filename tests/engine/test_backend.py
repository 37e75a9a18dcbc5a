import os
import subprocess
import sys

import numpy as np
import pytest

from seqfw import SeqfwError
from seqfw.backend import BackendError, cupy_available, get_backend, to_host, xp_of


def test_numpy_backend_defaults_to_float32_and_seeds():
    be = get_backend()
    assert be.name == "numpy" and be.xp is np and be.dtype is np.float32
    a, b = get_backend(seed=3).random((4,)), get_backend(seed=3).random((4,))
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, get_backend(seed=4).random((4,)))
    assert get_backend(dtype="float64").asarray([1]).dtype == np.float64


def test_host_rng_is_the_same_on_every_backend_seed():
    assert np.array_equal(get_backend(seed=5).host_rng().random(3), np.random.default_rng(5).random(3))


@pytest.mark.parametrize("name, dtype, match", [("jax", "float32", "unknown backend 'jax'; choose one of numpy, cupy"),
                                                 ("numpy", "float16", "dtype must be one of float32, float64, got 'float16'")])
def test_unknown_choices_are_refused_with_the_alternatives(name, dtype, match):
    with pytest.raises(SeqfwError, match=match):
        get_backend(name, dtype)


@pytest.mark.skipif(cupy_available(), reason="this machine has a working CuPy; the error path needs its absence")
def test_cupy_without_cupy_or_gpu_says_what_to_install():
    with pytest.raises(BackendError) as err:
        get_backend("cupy")
    msg = str(err.value)
    assert "backend 'numpy'" in msg and ("cupy-cuda12x" in msg or "nvidia-smi" in msg)


def test_xp_of_and_to_host_on_numpy():
    x = np.ones(3)
    assert xp_of(x) is np and to_host(x) is x


def test_import_is_fast_and_pulls_neither_cupy_nor_mlflow():
    # the importing thread's CPU time: the import's own work. Wall-clock time measured the machine's load as
    # much: 0.30-0.36 s quiet, 0.86-1.0 s beside two busy processes, when this thread's CPU time stays 0.34-0.39 s
    # (and OpenBLAS's start-up threads make the process's CPU time larger than either)
    code = ("import time, sys; t = time.thread_time(); import seqfw; dt = time.thread_time() - t; "
            "print(dt, any(m.split('.')[0] in ('cupy', 'mlflow', 'hydra', 'torch', 'numba') for m in sys.modules))")
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        assert out[1] == "False"
        times.append(float(out[0]))
    assert min(times) < 0.5, times


FAULTS = ("import os, resource, numpy as np; from seqfw.engine.backend import keep_freed_memory; "
          "took = keep_freed_memory(); np.ones(2**24, np.float32).sum(); "
          "f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
          "for _ in range(10): np.ones(2**24, np.float32).sum()  # 64 MB, allocated and freed as a step's logits\n"
          "print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f)")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_a_large_temporary_reuses_the_freed_pages_instead_of_faulting_in_new_ones():
    def faults(keep: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True, check=True,
                             env={**os.environ, "SEQFW_KEEP_MEMORY": keep}).stdout.split()
        return out[0], int(out[1])

    (off, faults_off), (on, faults_on) = faults("0"), faults("1")
    assert (off, on) == ("False", "True")
    # without: every 64 MB array is new pages (16,384 of 4 kB each, fewer with huge pages); with: the same ones
    assert faults_off >= 10 * 30 and faults_on < faults_off / 10, (faults_off, faults_on)
