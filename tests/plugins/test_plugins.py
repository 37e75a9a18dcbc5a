"""The cell registry: built-ins through the public hook, third-party cells, broken plugins contained."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqfw import CellSpec, PluginError, cell_registry, hookimpl, make_cell
from seqfw.cells import RNNCell
from seqfw.plugins.registry import _collect, get_plugin_manager


def test_builtin_cells_are_registered_through_the_public_hook():
    pm = get_plugin_manager(load_entry_points=False)
    impls = pm.hook.seqfw_add_cells.get_hookimpls()
    assert [i.plugin_name for i in impls] == ["builtin"]
    assert set(_collect(pm, "cell").specs) == {"rnn", "gru_simple", "gru", "lstm"}
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
    registry = _collect(pm, "cell").specs
    assert registry["twice"].cls is _TwiceRNN and "lstm" in registry


def test_two_plugins_claiming_one_name_are_named_in_the_error():
    class Clash:
        @hookimpl
        def seqfw_add_cells(self):
            return [CellSpec("lstm", _TwiceRNN, None)]

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(Clash(), name="clash")
    with pytest.raises(PluginError, match="'lstm' is registered twice, by plugins 'builtin' and 'clash'"):
        _collect(pm, "cell").specs


def test_make_cell_checks_names_and_options():
    assert make_cell("lstm", 2, 3, peephole=True).peephole is True
    with pytest.raises(PluginError, match=r"unknown cell 'lstn'; registered cells: gru, gru_simple, lstm, (\w+, )*rnn"):
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
    assert {"gru", "gru_simple", "lstm", "rnn"} <= set(eval(names)) and "broken" not in names
    assert "plugin 'broken'" in warns and "broken-cells" in warns and "needs libfoo" in warns


def test_an_options_dataclass_that_refuses_a_value_is_a_users_error_not_a_bug():
    """A plugin's options dataclass may check itself (as seqfw's own settings do); a plain ValueError
    there is shown as the user's error, naming the option, like one from the cell's constructor."""
    from dataclasses import dataclass

    from seqfw.plugins import registry

    @dataclass
    class CheckedOptions:
        width: int = 2

        def __post_init__(self):
            if self.width < 1:
                raise ValueError(f"width must be >= 1, got {self.width}")

    spec = CellSpec("checked_rnn", _TwiceRNN, CheckedOptions)
    with pytest.raises(PluginError, match=r"cell=checked_rnn refused its options \(cell.width=0\): width must be >= 1"):
        registry._config("cell", "checked_rnn", spec, {"width": 0})  # what make_cell and recurrent build first
    assert registry._config("cell", "checked_rnn", spec, {"width": 3}).width == 3


def test_registered_cells_train_like_builtins():
    cell = make_cell("rnn", 2, 3, nonlinearity="relu")
    assert cell.nonlinearity == "relu" and cell.init_params(np.random.default_rng(0))["W_h"].shape == (3, 3)


BROKEN_PLUGINS = {
    "raising_hook": '''
import seqfw

@seqfw.hookimpl
def seqfw_add_cells():
    raise RuntimeError("cannot find my CUDA kernels")
''',
    "bad_cells": '''
import seqfw
from seqfw.cells import RNNCell

class CrashingCell(RNNCell):
    def backward(self, params, da, dstate, cache):
        raise ZeroDivisionError("oops")

class NotACell:
    pass

@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("crashing", CrashingCell, None), seqfw.CellSpec("notacell", NotACell, None),
            seqfw.CellSpec("fine", RNNCell, None)]
''',
}


@pytest.fixture
def broken_site(tmp_path):
    site = tmp_path / "site"
    for name, code in BROKEN_PLUGINS.items():
        dist = site / f"{name}-0.2.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.2\n")
        (dist / "entry_points.txt").write_text(f"[seqfw]\n{name} = {name}_mod\n")
        (site / f"{name}_mod.py").write_text(code)
    return {**os.environ, "PYTHONPATH": str(site)}


def test_broken_plugins_are_contained_and_named(broken_site, tmp_path):
    code = textwrap.dedent("""
        import warnings
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            import seqfw
            names = sorted(seqfw.cell_registry())
        print(names)
        for x in w:
            print("WARN", x.message)
        try:
            seqfw.make_cell("crashing", 2, 3)
        except seqfw.PluginError as err:
            print("ERR", err)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=broken_site,
                         check=True).stdout
    names = set(eval(out.splitlines()[0]))
    assert {"fine", "gru", "gru_simple", "lstm", "rnn"} <= names and not names & {"crashing", "notacell"}
    assert "WARN seqfw plugin 'raising_hook' raised in seqfw_add_cells and is skipped: RuntimeError: cannot find" in out
    assert "cell 'crashing' from plugin 'bad_cells' is broken: one forward and backward step failed " \
           "(ZeroDivisionError: oops)" in out
    assert "cell 'notacell' from plugin 'bad_cells' is broken: its class" in out
    assert "ERR cell 'crashing' from plugin 'bad_cells' is broken" in out and "Fix or uninstall" in out


def test_selecting_a_broken_cell_is_a_clear_error_and_the_listing_shows_it(broken_site, tmp_path):
    run = subprocess.run([sys.executable, "-m", "seqfw", "cell=crashing", "tracking=none", "task.num_sentences=60"],
                         capture_output=True, text=True, env=broken_site, cwd=tmp_path, timeout=120)
    assert run.returncode == 2 and "error: cell 'crashing' from plugin 'bad_cells' is broken" in run.stderr
    assert "Traceback" not in run.stderr
    listing = subprocess.run([sys.executable, "-m", "seqfw.inventory"], capture_output=True, text=True,
                             env=broken_site, timeout=60).stdout
    assert re.search(r"fine\s+bad-cells 0\.2", listing) and re.search(r"crashing\s+bad-cells 0\.2\s+BROKEN", listing)
    assert re.search(r"lstm\s+seqfw 0\.1\.0", listing) and re.search(r"many_to_one\s+seqfw 0\.1\.0", listing)
