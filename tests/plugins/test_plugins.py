"""The cell registry: built-ins through the public hook, third-party cells, broken plugins contained."""

import re

import numpy as np
import pytest

from seqfw import CellSpec, PluginError, PluginWarning, cell_registry, hookimpl, make_cell
from seqfw.cells import LSTMCell, RNNCell
from seqfw.plugins.loading import load_plugins
from seqfw.plugins.registry import _collect


def test_builtin_cells_are_registered_through_the_public_hook():
    plugins = load_plugins(load_entry_points=False)
    impls = plugins.pm.hook.seqfw_add_cells.get_hookimpls()
    assert [i.plugin_name for i in impls] == ["builtin"]
    assert set(_collect(plugins, "cell").specs) == {"rnn", "gru_simple", "gru", "lstm"}
    assert set(cell_registry()) >= {"rnn", "gru_simple", "gru", "lstm"}


class _TwiceRNN(RNNCell):
    pass


class _ThirdParty:
    @hookimpl
    def seqfw_add_cells(self):
        return [CellSpec("twice", _TwiceRNN, None)]


def test_a_third_party_cell_joins_the_registry_by_the_same_hook():
    plugins = load_plugins(load_entry_points=False)
    plugins.pm.register(_ThirdParty(), name="third_party")
    registry = _collect(plugins, "cell").specs
    assert registry["twice"].cls is _TwiceRNN and "lstm" in registry


def test_a_second_registration_of_a_name_is_set_aside_and_the_first_kept():
    class Clash:
        @hookimpl
        def seqfw_add_cells(self):
            return [CellSpec("lstm", _TwiceRNN, None), CellSpec("clash_rnn", _TwiceRNN, None)]

    plugins = load_plugins(load_entry_points=False)
    plugins.pm.register(Clash(), name="clash")
    with pytest.warns(PluginWarning, match=r"cell 'lstm' from \(not installed: registered in this process\) is set "
                                           r"aside: seqfw \d+\.\d+\.\d+ already registers 'lstm', and that one is used"):
        known = _collect(plugins, "cell")
    assert known.specs["lstm"].cls is LSTMCell and known.specs["clash_rnn"].cls is _TwiceRNN
    assert [(name, plugin) for name, plugin, _ in known.set_aside] == [("lstm", "clash")]


def test_make_cell_checks_names_and_options():
    assert make_cell("lstm", 2, 3, peephole=True).peephole is True
    with pytest.raises(PluginError, match=r"unknown cell 'lstn'; registered cells: gru, gru_simple, lstm, (\w+, )*rnn"):
        make_cell("lstn", 2, 3)
    with pytest.raises(PluginError, match="cell 'lstm' has no option 'peepholes'; its options are: forget_bias, peephole"):
        make_cell("lstm", 2, 3, peepholes=True)
    with pytest.raises(PluginError, match=r"its options are: \(none\)"):
        make_cell("gru_simple", 2, 3, reset_after=True)


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
    assert cell.nonlinearity == "relu" and cell.init_params(np.random.default_rng(0), np, np.float32)["W_h"].shape == (3, 3)


@pytest.mark.parametrize("declared, expected", [
    (None, None), ("1.0", None),
    ("2.0", r"targets plugin API 2\.0, but seqfw \S+ implements plugin API 1\.0: it may not work\. Install a release "
            r"of it made for plugin API 1\.x, or a seqfw implementing 2\.x\."),
    ("0.9", r"targets plugin API 0\.9, but seqfw \S+ implements plugin API 1\.0"),
    ("1.7", r"targets plugin API 1\.7, newer than this seqfw \(seqfw \S+ implements plugin API 1\.0\): what it uses "
            r"from 1\.7 is missing here\. Upgrade seqfw\."),
    ("one", r"declares SEQFW_PLUGIN_API = 'one', which is not a version like '1\.0'"),
    (1.0, r"declares SEQFW_PLUGIN_API = 1\.0, which is not a version like '1\.0'"),
])
def test_a_plugin_api_mismatch_is_named(declared, expected):
    from seqfw.plugins.loading import api_problem

    problem = api_problem(declared)
    assert problem is None if expected is None else re.search(expected, problem), problem


def test_a_hook_returning_a_bad_value_or_exiting_is_contained():
    class OneSpec:
        @hookimpl
        def seqfw_add_cells(self):
            return CellSpec("lonely", _TwiceRNN, None)  # a Spec, not a list of them

    class Exits:
        @hookimpl
        def seqfw_add_cells(self):
            raise SystemExit("no GPU, giving up")

    class BadName:
        @hookimpl
        def seqfw_add_cells(self):
            return [CellSpec("my-cell", _TwiceRNN, None), CellSpec("good_cell", _TwiceRNN, None)]

    plugins = load_plugins(load_entry_points=False)
    for name, plugin in (("one_spec", OneSpec()), ("exits", Exits()), ("bad_name", BadName())):
        plugins.pm.register(plugin, name=name)
    with pytest.warns(PluginWarning) as caught:
        known = _collect(plugins, "cell")
    assert known.failed == {
        "one_spec": "could not register its cells (seqfw_add_cells returned Spec, not a list of seqfw.Spec)",
        "exits": "could not register its cells (seqfw_add_cells raised SystemExit: no GPU, giving up)"}
    assert "good_cell" in known.specs and "lstm" in known.specs and "lonely" not in known.specs
    assert [(name, plugin) for name, plugin, _ in known.set_aside] == [("my-cell", "bad_name")]
    assert len(caught) == 3
