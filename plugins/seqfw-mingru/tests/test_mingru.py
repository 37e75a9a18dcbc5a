"""The plugin's own tests: seqfw's conformance kit, then the real CLI with the installed entry point."""
import os
import re
import subprocess
import sys

import numpy as np
from seqfw.testing import CellSuite, check_cell
from seqfw_mingru import MinGRUCell


def papers_step(params, x, state):
    """One step exactly as the paper writes it, on the raw input: the kit compares the cell with this."""
    H = params["W_x"].shape[1] // 2
    z = 1 / (1 + np.exp(-(x @ params["W_x"][:, :H] + params["b"][:H])))
    h_tilde = x @ params["W_x"][:, H:] + params["b"][H:]
    h = (1 - z) * state.h + z * h_tilde
    return h, (h,)


class TestMinGRUConformance(CellSuite):
    cell_cls = MinGRUCell
    reference = staticmethod(papers_step)


class TestMinGRUWithGateBias(CellSuite):
    cell_cls = MinGRUCell
    options = {"z_bias": -2.0}
    reference = staticmethod(papers_step)


def test_the_whole_kit_in_one_call():
    report = check_cell(MinGRUCell, reference=papers_step)
    assert report["max_gradient_error"] < 1e-6 and "numpy/float32" in report["structure"]
    assert report["reference"] < 1e-12


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
