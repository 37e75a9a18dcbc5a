"""The compiled CPU executor (seqfw/engine/compiled.py) against the NumPy reference it compiles.

The rest of tests/engine runs every cell, gradient check and PyTorch comparison on both paths
(tests/engine/conftest.py); here: which functions are compiled, kernel-by-kernel agreement, the scatter-add,
the disk cache, the fallbacks, and that `import seqfw` does not import Numba.
"""
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqfw.engine import compiled
from seqfw.engine.backend import scatter_add
from seqfw.engine.cells.gru import GRU_MATH
from seqfw.engine.cells.lstm import LSTM_MATH
from seqfw.engine.cells.rnn import RNN_MATH
FAMILIES = (LSTM_MATH, GRU_MATH, RNN_MATH)
KERNELS = [(k, name) for k in FAMILIES for name in k.build(np.tanh)]
VECTOR_ARGS = {"peephole_forward": (5, 6, 7), "peephole_backward": (9, 10, 11), "reset_after_forward": (6,)}


@pytest.fixture
def cpu_path():
    """Overrides the engine's two-path fixture: these tests are about the compiled path itself."""
    if importlib.util.find_spec("numba") is None:
        if os.environ.get("SEQFW_REQUIRE_NUMBA") == "1":
            pytest.fail("SEQFW_REQUIRE_NUMBA=1 but Numba is not installed: pip install '.[fast]'")
        pytest.skip("the compiled path needs Numba (pip install 'seqfw[fast]')")
    return "compiled"


@pytest.fixture(autouse=True)
def _needs_numba(cpu_path, monkeypatch):
    monkeypatch.delenv("SEQFW_NO_COMPILED", raising=False)
    monkeypatch.setattr(compiled, "_enabled", None)  # decided again from the environment, restored after
    monkeypatch.setattr(compiled, "MIN_ENTRIES", 0)  # small blocks here; the threshold has its own test


def arguments(name: str, n: int, dtype, rng, B=5, H=7) -> list:
    """Random arguments as the cells pass them: the first ones column blocks of one (B, 4H) array
    (strided, as the gate pre-activations), the rest (B, H), a peephole or bias vector (H,)."""
    wide = rng.normal(0, 2, (B, 4 * H)).astype(dtype)
    args = []
    for k in range(n):
        if k in VECTOR_ARGS.get(name, ()):
            args.append(rng.normal(0, 1, H).astype(dtype))
        elif k < 4:
            args.append(wide[:, k * H:(k + 1) * H])
        else:
            args.append(rng.normal(0, 2, (B, H)).astype(dtype))
    return args


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


USES_TANH = {"forward", "peephole_forward", "simple_forward", "cho_gates", "cho_candidate", "reset_after_forward"}


def test_exactly_the_functions_without_tanh_are_compiled():
    compiled_ones = {f"{k.name}.{n}" for k, n in KERNELS
                     if type(compiled.executor(k.name, k.build)[n]).__name__ == "CompiledKernel"}
    assert compiled_ones == {f"{k.name}.{n}" for k, n in KERNELS if n not in USES_TANH}
    assert "lstm.backward" in compiled_ones and "gru.reset_after_backward" in compiled_ones
    forward = compiled.executor("lstm", LSTM_MATH.build)["forward"]
    assert forward.__module__ == "seqfw.engine.cells.lstm"  # NumPy's vectorised tanh: the plain function


COMPILED = [(k, n) for k, n in KERNELS if n not in USES_TANH]


@pytest.mark.parametrize("family, name", COMPILED, ids=[f"{k.name}.{n}" for k, n in COMPILED])
def test_every_compiled_kernel_equals_numpy_to_1e_12_in_float64(family, name, rng):
    reference = family.build(np.tanh)[name]
    fast = compiled.executor(family.name, family.build)[name]
    args = arguments(name, fast.n_in, np.float64, rng)
    want, got = as_tuple(reference(*args)), as_tuple(fast(*args))
    assert len(got) == len(want) and all(g.dtype == np.float64 and g.shape == w.shape for g, w in zip(got, want))
    worst = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want))
    assert worst <= 1e-12, f"{family.name}.{name}: compiled differs from NumPy by {worst:.3g}"
    assert fast.failed is None and [loop for loop in fast._loops.values() if loop is not None]  # it did compile


@pytest.mark.parametrize("family, name", COMPILED, ids=[f"{k.name}.{n}" for k, n in COMPILED])
def test_every_compiled_kernel_matches_numpy_in_float32(family, name, rng):
    reference = family.build(np.tanh)[name]
    fast = compiled.executor(family.name, family.build)[name]
    args = arguments(name, fast.n_in, np.float32, rng, B=9, H=33)
    for g, w in zip(as_tuple(fast(*args)), as_tuple(reference(*args))):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)  # it computes in float64, then rounds


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_nan_or_inf_reaches_the_gradients_as_numpy_s_does(dtype, rng):
    fast = compiled.executor("lstm", LSTM_MATH.build)["backward"]
    args = arguments("backward", 9, dtype, rng)
    args[0][1, 2], args[2][3, 4], args[5][0, 0] = np.nan, np.inf, -np.inf
    want = LSTM_MATH.build(np.tanh)["backward"](*args)
    for g, w in zip(fast(*args), want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_allclose(g[~np.isnan(w)], w[~np.isnan(w)], rtol=2e-6, atol=2e-6)


def test_calls_the_loop_does_not_take_run_the_numpy_function(rng):
    fast = compiled.executor("rnn", RNN_MATH.build)["tanh_backward"]
    for args in ([rng.normal(size=4)] * 3,                    # one-dimensional
                 [rng.normal(size=(2, 3, 4))] * 3,            # three-dimensional
                 [np.ones((2, 3), dtype=np.int64)] * 3,       # integers
                 [0.5, np.ones((2, 3)), np.ones((2, 3))]):    # a Python number
        np.testing.assert_array_equal(fast(*args), RNN_MATH.build(np.tanh)["tanh_backward"](*args))
    transposed = rng.normal(size=(3, 2)).T  # not row-contiguous: copied, then compiled
    np.testing.assert_allclose(fast(transposed, transposed, transposed),
                               (transposed + transposed) * (1 - transposed * transposed), rtol=0, atol=1e-15)


def test_outputs_numpy_would_give_another_dtype_or_shape_come_from_numpy(rng):
    def build(tanh):
        def mask_and_scaled(a, b):  # a boolean mask, as a relu's derivative: a loop would write floats
            return a > 0, a * b

        def of_the_vector(a, v):  # an output of the vector alone is (N,), not (B, N)
            return a * v, v * 2.0

        return {"mask_and_scaled": mask_and_scaled, "of_the_vector": of_the_vector}

    fast = compiled.executor("shapes", build)
    a, b, v = rng.normal(size=(4, 5)), rng.normal(size=(4, 5)), rng.normal(size=5)
    mask, scaled = fast["mask_and_scaled"](a, b)
    assert mask.dtype == bool and (mask == (a > 0)).all() and np.array_equal(scaled, a * b)
    times, doubled = fast["of_the_vector"](a, v)
    assert doubled.shape == (5,) and np.array_equal(doubled, v * 2.0) and np.array_equal(times, a * v)
    half = fast["mask_and_scaled"](a.astype(np.float16), b.astype(np.float16))[1]  # float16: NumPy's
    assert half.dtype == np.float16
    swapped = fast["mask_and_scaled"](a.astype(">f8"), b)[1]  # a byte-swapped array: NumPy's, not a failure
    assert np.array_equal(swapped, a * b) and fast["mask_and_scaled"].failed is None


def test_small_blocks_run_on_numpy_where_it_is_faster(monkeypatch, rng):
    monkeypatch.setattr(compiled, "MIN_ENTRIES", 2048)
    fast = compiled.executor("rnn", RNN_MATH.build)["tanh_backward"]
    small = [rng.normal(size=(1, 100))] * 3  # a batch-1 block
    fast(*small)
    assert not fast._loops  # no loop made: NumPy ran it
    large = [rng.normal(size=(32, 64))] * 3
    np.testing.assert_allclose(fast(*large), (large[0] * 2) * (1 - large[0] ** 2), rtol=0, atol=1e-14)
    assert [loop for loop in fast._loops.values() if loop is not None]


def test_numba_disable_jit_is_not_reported_as_the_compiled_path(monkeypatch):
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    assert compiled.refresh() is False and not compiled.available()
    assert compiled.path_name() == "NumPy (NUMBA_DISABLE_JIT is set)"


def test_a_body_numba_cannot_compile_runs_on_numpy_with_a_warning_naming_it():
    def build(tanh):
        def f(a, b):
            return a.clip(0, 1) * b  # an array method: no such thing on a scalar

        return {"f": f}

    fast = compiled.executor("odd_plugin", build)["f"]
    a, b = np.linspace(-1, 2, 12).reshape(3, 4), np.full((3, 4), 2.0)
    with pytest.warns(UserWarning, match=r"cannot run odd_plugin\.f \(TypingError.*runs on NumPy"):
        out = fast(a, b)
    np.testing.assert_array_equal(out, a.clip(0, 1) * b)
    assert fast.failed and fast(a, b).shape == (3, 4)  # said once, NumPy from then on


@pytest.mark.parametrize("dtype, id_type", [(np.float32, np.int32), (np.float64, np.int64), (np.float32, np.uint64)])
def test_the_scatter_add_equals_numpy_add_at_bit_for_bit(dtype, id_type, rng):
    V, E, N = 50, 16, 2000
    low = 0 if np.dtype(id_type).kind == "u" else -V
    ids = rng.integers(low, V, N).astype(id_type)  # repeated (and negative) indices, as NumPy allows
    values = rng.normal(size=(N, E)).astype(dtype)
    want, got = np.zeros((V, E), dtype), np.zeros((V, E), dtype)
    np.add.at(want, ids, values)
    assert compiled.scatter_rows(got, ids, values)
    np.testing.assert_array_equal(got, want)
    backend = np.zeros((V, E), dtype)
    scatter_add(backend, ids, values)
    np.testing.assert_array_equal(backend, want)


def test_an_out_of_range_token_is_numpy_s_index_error_not_a_write_past_the_table(rng):
    table, values = np.zeros((10, 4)), np.ones((3, 4))
    assert compiled.scatter_rows(table, np.array([1, 10, 2]), values) is False
    with pytest.raises(IndexError, match="out of bounds"):
        scatter_add(table, np.array([1, 10, 2]), values)
    assert not table.any()


def test_the_fingerprint_follows_the_code_and_what_it_closes_over():
    def family(scale):
        def build(tanh):
            def f(a):
                return tanh(a) * scale

            return {"f": f}

        return build

    one, same, other = (family(s)(np.tanh)["f"] for s in (2.0, 2.0, 3.0))
    assert compiled.fingerprint(one) == compiled.fingerprint(same) != compiled.fingerprint(other)
    assert compiled.fingerprint(LSTM_MATH.build(np.tanh)["forward"]) != compiled.fingerprint(
        LSTM_MATH.build(np.tanh)["backward"])


CACHE_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from seqfw.engine import compiled

    OFFSET = float(sys.argv[1])  # a module-level constant the body reads

    def helper(x):
        return x * HELPER

    def build(tanh):
        def f(a, b):
            return helper(a) * b + SCALE + OFFSET
        return {"f": f}

    fast = compiled.executor("cache/test", build)["f"]  # a family name that is no file name
    out = fast(np.ones((64, 64), np.float32), np.ones((64, 64), np.float32))  # over MIN_ENTRIES: compiled
    stats = next(iter(fast._loops.values())).function.stats
    print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), float(out[0, 0]))
""")


def test_compiled_kernels_are_cached_on_disk_and_recompiled_when_the_math_changes(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def run(scale="1.0", offset="0.0", helper="2.0"):
        script = CACHE_SCRIPT.replace("SCALE", scale).replace("HELPER", helper)
        out = subprocess.run([sys.executable, "-c", script, offset], capture_output=True, text=True, env=env,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        hits, misses, value = out.stdout.split()
        return int(hits), int(misses), float(value)

    assert run() == (0, 1, 3.0)  # (cache hits, misses, result): compiled, then saved
    assert run() == (1, 0, 3.0)  # a new process loads it
    assert run(scale="2.0") == (0, 1, 4.0)  # the body changed: compiled again, not the stale loop
    assert run(offset="5.0") == (0, 1, 8.0)  # a module-level value it reads changed
    assert run(helper="7.0") == (0, 1, 8.0)  # a function it calls changed
    assert run(offset="5.0") == (1, 0, 8.0)  # and each version is kept
    assert any(tmp_path.rglob("*cache_test_f_float32*.nbc"))


def test_import_seqfw_does_not_import_numba_and_the_numpy_path_never_does():
    script = ("import sys, numpy as np, seqfw; assert 'numba' not in sys.modules; "
              "from seqfw.engine.cells.lstm import LSTM_MATH; "
              "LSTM_MATH.on(np).backward(*[np.ones((64, 64))] * 9); print('numba' in sys.modules)")
    for off, imported in (("1", "False"), ("0", "True")):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "SEQFW_NO_COMPILED": off})
        assert out.returncode == 0 and out.stdout.strip() == imported, out.stderr


def test_the_path_is_named(monkeypatch):
    assert compiled.path_name().startswith("compiled (Numba ")
    assert type(LSTM_MATH.on(np).backward).__name__ == "CompiledKernel"
    monkeypatch.setenv("SEQFW_NO_COMPILED", "1")
    assert type(LSTM_MATH.on(np).backward).__name__ == "CompiledKernel"  # decided once per process ...
    assert compiled.path_name().startswith("compiled (Numba ")  # and named as it runs, not as the env now reads
    compiled.refresh()  # ... until asked again
    assert compiled.path_name() == "NumPy (SEQFW_NO_COMPILED=1)"
    assert LSTM_MATH.on(np).backward.__module__ == "seqfw.engine.cells.lstm"
