"""The benchmark command as a user runs it (tiny shapes: this checks that it works and reports
what it should, not how fast anything is)."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from seqfw.bench import studies
from seqfw.backend import cupy_available


def bench(*args):
    return subprocess.run([sys.executable, "-m", "seqfw.bench", *args], capture_output=True, text=True, timeout=300)


def test_the_table_reports_throughput_ratio_and_gemm_fraction():
    out = bench("--shapes", "8,20,32,65", "--pairs", "1", "--warmup", "1", "--cells", "rnn,lstm")
    assert out.returncode == 0, out.stderr
    assert re.search(r"BLAS: \w+", out.stdout) and re.search(r"sgemm peak \(2048\^3, best of 3x10\) \d+ GFLOP/s", out.stdout)
    # which executor ran the elementwise math: compiled where Numba imports (the test extra has it)
    expected = r"compiled \(Numba [\d.]+\)" if importlib.util.find_spec("numba") else r"NumPy \(no compiled path"
    assert re.search(rf"^elementwise math: {expected}; freed memory kept for reuse: (yes|no)$", out.stdout, re.M), out.stdout
    rows = re.findall(r"^(rnn|lstm)\s+8,20,32,65\s+(\d+) \(\d+-\d+\)\s+(\S+).*?\s+(\S+)\s+([\d.]+)\s+(\d+)%$", out.stdout, re.M)
    assert [r[0] for r in rows] == ["rnn", "lstm"], out.stdout
    for _, ours, _, ratio, gflops, _ in rows:
        assert int(ours) > 0 and float(gflops) > 0
        assert ratio == "nan" or float(ratio) > 0  # nan only without torch


def test_the_numpy_path_is_named_when_chosen():
    out = subprocess.run([sys.executable, "-m", "seqfw.bench", "--shapes", "2,5,8,11", "--pairs", "1", "--warmup", "0",
                          "--cells", "lstm"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "SEQFW_NO_COMPILED": "1"})
    assert out.returncode == 0 and "elementwise math: NumPy (SEQFW_NO_COMPILED=1)" in out.stdout, out.stdout + out.stderr


def test_compare_paths_times_the_numpy_path_beside_the_compiled_one():
    out = bench("--shapes", "4,10,16,65", "--pairs", "2", "--warmup", "1", "--cells", "gru", "--compare-paths")
    if importlib.util.find_spec("numba") is None:
        assert out.returncode == 2 and "--compare-paths compares the compiled path" in out.stderr
        return
    assert out.returncode == 0, out.stderr
    assert re.search(r"NumPy path tok/s\s+compiled/NumPy$", out.stdout, re.M), out.stdout
    row = re.search(r"^gru\s+4,10,16,65\s+(\d+) \(\d+-\d+\).*%\s+(\d+) \(\d+-\d+\)\s+([\d.]+)$", out.stdout, re.M)
    assert row and int(row[1]) > 0 and int(row[2]) > 0, out.stdout
    assert abs(float(row[3]) - int(row[1]) / int(row[2])) < 0.01  # the ratio of the two medians
    off = subprocess.run([sys.executable, "-m", "seqfw.bench", "--compare-paths", "--shapes", "2,5,8,11"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "SEQFW_NO_COMPILED": "1"})
    assert off.returncode == 2 and "the compiled path is off here: NumPy (SEQFW_NO_COMPILED=1)" in off.stderr


def test_bad_arguments_are_one_line_errors():
    out = bench("--cells", "lstm,janet")
    assert out.returncode == 2 and "unknown cell(s) janet" in out.stderr and "Traceback" not in out.stderr
    if not cupy_available():
        out = bench("--backend", "cupy", "--shapes", "4,6,8,11")
        assert out.returncode == 2 and "error: backend 'cupy' was selected" in out.stderr
        assert "Traceback" not in out.stderr


def test_scaling_memory_grows_with_T_for_full_bptt_and_not_for_truncated(tmp_path):
    png = tmp_path / "scaling.png"
    rows = studies.scaling(lengths=(20, 80), window=10, B=4, H=16, V=11, repeats=1, plot=str(png))
    short, long = rows
    assert long["full"]["peak_mb"] > 2.5 * short["full"]["peak_mb"]  # ~linear: 4x the steps
    assert long["tbptt"]["peak_mb"] < 1.5 * short["tbptt"]["peak_mb"]  # bounded by the window
    assert png.stat().st_size > 10_000


def test_min_char_rnn_reference_learns():
    """The batch-1 reference is a real training loop, not a stand-in: its loss goes down."""
    import numpy as np

    step = studies.min_char_rnn_step(16, 7, 10, np.random.default_rng(0), lr=0.1)
    first = step()
    for _ in range(100):
        last = step()
    assert last < 0.8 * first


@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device (none here)")
@pytest.mark.gpu
def test_gpu_table_runs():
    out = bench("--backend", "cupy", "--shapes", "4,6,8,11", "--pairs", "1", "--warmup", "1")
    assert out.returncode == 0, out.stderr
    assert "GPU " in out.stdout and re.search(r"^lstm\s+4,6,8,11\s+\d+", out.stdout, re.M)
