"""The command line, run as a user runs it: a subprocess from another directory."""
import re
import subprocess
import sys

import pytest


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "seqfw", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_main_job_learns_the_embedded_text(tmp_path):
    out = run("--steps", "60", "--hidden", "48", "--batch", "8", "--seq-len", "32", "--bptt", "16", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    bpc = [float(v) for v in re.findall(r"bits/char (\d+\.\d+)", out.stdout)]
    assert len(bpc) == 10
    # log2(vocabulary ~ 40) ≈ 5.3 bits at chance; a working BPTT gets well below it in 60 steps
    assert bpc[-1] < 3.5 and bpc[-1] < bpc[0]
    assert "sample:" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["--cell", "lstn"], "unknown cell 'lstn'; registered cells: gru, gru_simple, lstm, rnn"),
    (["--hidden", "0"], "--hidden must be >= 1"),
    (["--backend", "jax"], "unknown backend 'jax'"),
])
def test_bad_input_is_one_clear_line_not_a_traceback(tmp_path, args, message):
    out = run(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_deterministic_for_a_seed(tmp_path):
    a = run("--steps", "5", "--hidden", "16", "--seq-len", "16", cwd=tmp_path).stdout
    b = run("--steps", "5", "--hidden", "16", "--seq-len", "16", cwd=tmp_path).stdout
    strip = lambda s: re.sub(r"\s+\d+ chars/s", "", s)  # noqa: E731  (throughput varies)
    assert strip(a) == strip(b) and "loss/char" in a
