"""The cell registry: built-ins through the public hook, third-party cells, broken plugins contained."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqfw import CellSpec, PluginError, cell_registry, hookimpl, make_cell
from seqfw.cells import RNNCell
from seqfw.plugins import _collect_cells, get_plugin_manager


def test_builtin_cells_are_registered_through_the_public_hook():
    pm = get_plugin_manager(load_entry_points=False)
    impls = pm.hook.seqfw_add_cells.get_hookimpls()
    assert [i.plugin_name for i in impls] == ["builtin_cells"]
    assert set(_collect_cells(pm)) == {"rnn", "gru_simple", "gru", "lstm"}
    assert set(cell_registry()) >= {"rnn", "gru_simple", "gru", "lstm"}


class _TwiceRNN(RNNCell):
    pass


class _ThirdParty:
    @hookimpl
    def seqfw_add_cells(self):
        return [CellSpec("twice", _TwiceRNN, None)]


def test_a_third_party_cell_joins_the_registry_by_the_same_hook():
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(_ThirdParty(), name="third_party")
    registry = _collect_cells(pm)
    assert registry["twice"].cls is _TwiceRNN and "lstm" in registry


def test_two_plugins_claiming_one_name_are_named_in_the_error():
    class Clash:
        @hookimpl
        def seqfw_add_cells(self):
            return [CellSpec("lstm", _TwiceRNN, None)]

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(Clash(), name="clash")
    with pytest.raises(PluginError, match="'lstm' is registered twice, by plugins 'builtin_cells' and 'clash'"):
        _collect_cells(pm)


def test_make_cell_checks_names_and_options():
    assert make_cell("lstm", 2, 3, peephole=True).peephole is True
    with pytest.raises(PluginError, match="unknown cell 'lstn'; registered cells: gru, gru_simple, lstm, rnn"):
        make_cell("lstn", 2, 3)
    with pytest.raises(PluginError, match="cell 'lstm' has no option 'peepholes'; its options are: forget_bias, peephole"):
        make_cell("lstm", 2, 3, peepholes=True)
    with pytest.raises(PluginError, match=r"its options are: \(none\)"):
        make_cell("gru_simple", 2, 3, reset_after=True)


def test_an_entry_point_that_fails_to_import_warns_and_spares_the_rest(tmp_path):
    dist = tmp_path / "broken_cells-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-cells\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[seqfw]\nbroken = broken_cells_mod\n")
    (tmp_path / "broken_cells_mod.py").write_text("raise ImportError('needs libfoo')\n")
    code = textwrap.dedent("""
        import warnings
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            import seqfw
            names = sorted(seqfw.cell_registry())
        print(names)
        print([str(x.message) for x in w])
    """)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    names, warns = out.splitlines()
    assert names == "['gru', 'gru_simple', 'lstm', 'rnn']"
    assert "plugin 'broken'" in warns and "broken-cells" in warns and "needs libfoo" in warns


def test_registered_cells_train_like_builtins():
    cell = make_cell("rnn", 2, 3, nonlinearity="relu")
    assert cell.nonlinearity == "relu" and cell.init_params(np.random.default_rng(0))["W_h"].shape == (3, 3)
