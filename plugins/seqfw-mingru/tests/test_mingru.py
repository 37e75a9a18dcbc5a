"""The plugin's own tests: seqfw's conformance kit, then the real CLI with the installed entry point."""
import os
import re
import subprocess
import sys

import numpy as np
from seqfw.testing import CellSuite, check_cell
from seqfw_mingru import MinGRUCell


class TestMinGRUConformance(CellSuite):
    cell_cls = MinGRUCell


class TestMinGRUWithGateBias(CellSuite):
    cell_cls = MinGRUCell
    options = {"z_bias": -2.0}


def test_the_whole_kit_in_one_call():
    report = check_cell(MinGRUCell)
    assert report["max_gradient_error"] < 1e-6 and "numpy/float32" in report["structure"]


def test_the_step_is_the_papers_equation():
    cell = MinGRUCell(3, 4)
    p = cell.init_params(np.random.default_rng(0), np, np.float64)
    x, h_prev = np.random.default_rng(1).standard_normal((2, 3)), np.random.default_rng(2).standard_normal((2, 4))
    z = 1 / (1 + np.exp(-(x @ p["W_x"][:, :4] + p["b"][:4])))
    h_tilde = x @ p["W_x"][:, 4:] + p["b"][4:]
    h, _, _ = cell.forward(p, x @ p["W_x"] + p["b"], cell.state_type(h_prev))
    np.testing.assert_allclose(h, (1 - z) * h_prev + z * h_tilde, rtol=1e-12)


def test_trains_from_the_command_line_and_is_listed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run([sys.executable, "-m", "seqfw", "cell=mingru", "cell.z_bias=-1.0", "tracking=none",
                          "train.steps=60", "train.progress=false", "task.num_sentences=300"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "cell mingru (H=64)" in out.stdout
    assert float(re.search(r"val/token_accuracy (\d\.\d+)", out.stdout).group(1)) > 0.6
    listing = subprocess.run([sys.executable, "-m", "seqfw.inventory"], capture_output=True, text=True,
                             env=env, timeout=120).stdout
    assert re.search(r"mingru\s+seqfw-mingru 0\.1\.0", listing)
