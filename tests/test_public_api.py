"""The public surface survives the layered layout: what plugin authors import, the `python -m`
commands, and the loader module every logged model names in its MLmodel file."""
import subprocess
import sys

import numpy as np

import seqfw


def test_the_top_level_names_plugin_authors_and_notebooks_use():
    for name in ("hookimpl", "CellSpec", "TaskSpec", "Spec", "PluginError", "SeqfwError", "SettingError",
                 "recurrent", "get_backend", "make_cell", "make_task", "cell_registry", "task_registry",
                 "truncated_bptt", "__version__", "run", "load", "softmax", "log_softmax", "DtypeError"):
        assert hasattr(seqfw, name), name
    net = seqfw.recurrent("lstm", 3, 4, num_layers=2, bidirectional=True)
    be = seqfw.get_backend("numpy", "float64")
    params = net.init_params(be)
    y, _, _ = net.forward(params, np.ones((5, 2, 3)))
    assert y.shape == (5, 2, 8) and y.dtype == np.float64
    assert callable(seqfw.run) and callable(seqfw.load)  # functions, not the runner package's name


def test_the_plugin_guides_import_paths():
    from seqfw.backend import xp_of
    from seqfw.cells import Cell, HState, Param, blocks, constant, sigmoid, uniform, zeros
    from seqfw.engine import cells as engine_cells
    from seqfw.testing import CellSuite, assert_gradients_close, check_cell, network_gradients, rel_error

    assert Cell is engine_cells.Cell and xp_of(np.zeros(1)) is np
    assert all(callable(f) for f in (HState, Param, blocks, constant, sigmoid, uniform, zeros, CellSuite,
                                     assert_gradients_close, check_cell, network_gradients, rel_error))


def test_logged_models_load_through_the_stable_seqfw_serving():
    from seqfw import serving
    from seqfw.runner import serving as runner_serving

    assert serving._load_pyfunc is runner_serving._load_pyfunc


def test_the_module_commands_still_run():
    for module in ("seqfw.inventory", "seqfw.sample", "seqfw.new_cell", "seqfw.bench", "seqfw.bench.soak"):
        out = subprocess.run([sys.executable, "-m", module, "--help"] if module != "seqfw.inventory"
                             else [sys.executable, "-m", module], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (module, out.stderr[-1000:])
        assert out.stdout.strip(), module
