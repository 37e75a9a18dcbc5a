"""Plugins that go wrong, installed as real distributions (tests/plugins/dists, built by pip): each is set
aside with one line naming its package, the inventory shows why, selecting it says why, and every other
cell keeps working, from Python and from the command line."""
import re
import subprocess
import sys
import textwrap

import pytest

from tests.helpers.cli import TINY, clean_env, seqfw
from tests.helpers.dists import DISTS, install

BAD = ["evil", "twin", "libfoo", "exits", "flatgrad", "thinstate", "future", "raising", "badcells"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Every misbehaving plugin at once, as pip installs them."""
    return install([DISTS / name for name in BAD], tmp_path_factory.mktemp("dists"))


def python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=clean_env(env), timeout=120)


def inventory(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqfw.inventory"], capture_output=True, text=True,
                          env=clean_env(env), timeout=120)


def test_the_inventory_lists_every_problem_and_still_exits_0(site):
    out = inventory(site)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    rows = out.stdout
    assert re.search(r"^  lstm +seqfw \S+$", rows, re.M)  # the built-in keeps its name
    assert re.search(r"^  lstm +seqfw-evil-lstm 0\.3\.1  SET ASIDE: cell 'lstm' from seqfw-evil-lstm 0\.3\.1 is set "
                     r"aside: seqfw \S+ already registers 'lstm', and that one is used\. Uninstall seqfw-evil-lstm",
                     rows, re.M)
    assert re.search(r"^  evil_rnn +seqfw-evil-lstm 0\.3\.1$", rows, re.M)  # its other cell is fine
    assert re.search(r"^  libfoo_cell +seqfw-needs-libfoo 0\.1\.0  \(declares no plugin API\)  BROKEN: failed to load "
                     r"\(ImportError: libfoo\.so\.3: cannot open shared object file \(install libfoo3\)\)$", rows, re.M)
    assert re.search(r"^  exits +seqfw-exits 0\.1\.0  \(declares no plugin API\)  BROKEN: failed to load \(SystemExit: "
                     r"seqfw_exits: no GPU found, giving up\)$", rows, re.M)  # exit() at import stops nothing
    assert re.search(r"^  raising_hook +seqfw-raising-hook 0\.2\.0 .* BROKEN: could not register its cells "
                     r"\(seqfw_add_cells raised RuntimeError: cannot find my CUDA kernels\)$", rows, re.M)
    assert re.search(r"^  flat_grad +seqfw-flat-grad 0\.1\.0  BROKEN: .*wrong shape: grads\['W_h'\] is \(7,\) but the "
                     r"parameter is \(7, 7\)", rows, re.M)
    assert re.search(r"^  thin_state +seqfw-thin-state 0\.1\.0  BROKEN: .*wrong shape: dstate_prev\.h is \(1, 7\) "
                     r"but the state is \(3, 7\)", rows, re.M)
    assert re.search(r"^  crashing +seqfw-bad-cells 0\.2\.0  BROKEN: .*one forward and backward step failed "
                     r"\(ZeroDivisionError: oops\)", rows, re.M)
    assert re.search(r"^  notacell +seqfw-bad-cells 0\.2\.0  BROKEN: .*is not a subclass of", rows, re.M)
    assert re.search(r"^  future +seqfw-future-api 0\.2\.0  \(plugin API 1\.7\)  WARNING: targets plugin API 1\.7, "
                     r"newer than this seqfw", rows, re.M)
    assert re.search(r"^  builtin +seqfw \S+  \(implements plugin API 1\.0\)$", rows, re.M)
    # two distributions with one entry-point name: the second (by distribution name) is set aside, whole
    assert re.search(r"^  evil +seqfw-evil-twin 1\.0\.0  SET ASIDE: seqfw plugin 'evil' from seqfw-evil-twin 1\.0\.0 is "
                     r"set aside: seqfw-evil-lstm 0\.3\.1 already registered a plugin of that name\. Uninstall "
                     r"whichever of seqfw-evil-twin and seqfw-evil-lstm you do not want\.$", rows, re.M)
    assert "twin_rnn" not in rows


def test_each_problem_is_one_warning_line_naming_the_package(site):
    lines = inventory(site).stderr.splitlines()
    assert all(line.startswith("warning: ") for line in lines), lines  # no file:line, no echoed source
    for package in ("seqfw-evil-lstm", "seqfw-evil-twin", "seqfw-needs-libfoo", "seqfw-exits", "seqfw-flat-grad", "seqfw-thin-state",
                    "seqfw-future-api", "seqfw-raising-hook", "seqfw-bad-cells"):
        assert sum(package in line for line in lines) >= 1, package
    assert len(lines) == 10, lines  # evil, twin, libfoo, exits, flatgrad, thinstate, future, raising, crashing, notacell
    assert len(set(lines)) == len(lines)


def test_the_other_cells_work_from_python(site):
    out = python("""
        import warnings
        warnings.simplefilter("ignore")
        import numpy as np
        import seqfw
        from seqfw.cells import LSTMCell
        print(sorted(seqfw.cell_registry()))
        print(type(seqfw.make_cell("lstm", 2, 3)) is LSTMCell)
        net = seqfw.recurrent("evil_rnn", 2, 3)
        y, _, _ = net.forward(net.init_params(np.random.default_rng(0), np, np.float64), np.ones((4, 2, 2)))
        print(y.shape)
        for name in ("libfoo_cell", "flat_grad", "thin_state", "raising_hook"):
            try:
                seqfw.recurrent(name, 2, 3)
            except seqfw.PluginError as err:
                print("ERR", err)
    """, site)
    assert out.returncode == 0, out.stderr
    names, is_lstm, shape, *errors = out.stdout.splitlines()
    names = set(eval(names))
    assert names >= {"evil_rnn", "fine", "future_rnn", "gru", "gru_simple", "lstm", "rnn"}
    assert not names & {"libfoo_cell", "flat_grad", "thin_state", "crashing", "notacell", "raising_hook", "twin_rnn"}
    assert is_lstm == "True" and shape == "(4, 2, 3)"
    assert errors[0].startswith("ERR cell 'libfoo_cell' is not available: the seqfw plugin 'libfoo_cell' from "
                                "seqfw-needs-libfoo 0.1.0 failed to load (ImportError: libfoo.so.3")
    assert "Fix or uninstall seqfw-needs-libfoo, or choose another cell (evil_rnn, fine," in errors[0]
    assert errors[1].startswith("ERR cell 'flat_grad' from plugin 'flat_grad' (seqfw-flat-grad 0.1.0) is broken: ")
    assert "wrong shape: grads['W_h'] is (7,) but the parameter is (7, 7)" in errors[1]
    assert "wrong shape: dstate_prev.h is (1, 7) but the state is (3, 7)" in errors[2]
    assert errors[3].startswith("ERR cell 'raising_hook' is not available: the seqfw plugin 'raising_hook' from "
                                "seqfw-raising-hook 0.2.0 could not register its cells (seqfw_add_cells raised "
                                "RuntimeError: cannot find my CUDA kernels)")


@pytest.mark.parametrize("cell, message", [
    ("libfoo_cell", "error: cell 'libfoo_cell' is not available: the seqfw plugin 'libfoo_cell' from "
                    "seqfw-needs-libfoo 0.1.0 failed to load (ImportError: libfoo.so.3"),
    ("flat_grad", "error: cell 'flat_grad' from plugin 'flat_grad' (seqfw-flat-grad 0.1.0) is broken: "),
    ("thin_state", "error: cell 'thin_state' from plugin 'thin_state' (seqfw-thin-state 0.1.0) is broken: "),
    ("crashing", "error: cell 'crashing' from plugin 'bad_cells' (seqfw-bad-cells 0.2.0) is broken: one forward and "
                 "backward step failed (ZeroDivisionError: oops)"),
])
def test_selecting_a_set_aside_cell_says_why_and_creates_nothing(site, tmp_path, cell, message):
    out = seqfw(f"cell={cell}", *TINY, cwd=tmp_path, env=site)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert "unknown cell" not in out.stderr
    package = {"libfoo_cell": "seqfw-needs-libfoo", "flat_grad": "seqfw-flat-grad", "thin_state": "seqfw-thin-state",
               "crashing": "seqfw-bad-cells"}[cell]
    assert f"Fix or uninstall {package}, or choose another cell" in out.stderr  # the package, not the entry point
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "outputs").exists()


def test_the_builtins_and_the_good_plugin_cells_train_beside_them(site, tmp_path):
    for cell in ("lstm", "evil_rnn", "future_rnn"):
        out = seqfw(f"cell={cell}", "tracking=none", *TINY, cwd=tmp_path, env=site)
        assert out.returncode == 0, out.stderr
        assert f"cell {cell} (H=" in out.stdout  # the built-in LSTM, not the plugin's "lstm"


# -- past the first look: a misspelt hook, trylast, one module twice, configs, names, options --------------

MORE = ["typo", "steal", "twoeps", "odd"]


@pytest.fixture(scope="module")
def more_site(tmp_path_factory):
    return install([DISTS / name for name in MORE], tmp_path_factory.mktemp("more"))


def test_subtler_plugin_faults_are_each_set_aside_and_named(more_site):
    out = inventory(more_site)
    assert out.returncode == 0 and all(line.startswith("warning: ") for line in out.stderr.splitlines()), out.stderr
    rows = out.stdout
    assert re.search(r"^  typo +seqfw-typo-hook 0\.1\.0  \(declares no plugin API\)  BROKEN: failed to load "
                     r"\(PluginValidationError: unknown hook 'seqfw_add_cell' in plugin", rows, re.M)
    assert re.search(r"^  lstm +seqfw-steal 0\.1\.0  SET ASIDE: cell 'lstm' from seqfw-steal 0\.1\.0 is set aside: "
                     r"seqfw \S+ already registers 'lstm', and that one is used", rows, re.M)  # trylast wins nothing
    assert re.search(r"^  two_b +seqfw-two-eps 0\.1\.0  SET ASIDE: .*it is the module seqfw_two_eps again, already "
                     r"registered as plugin 'two_a'", rows, re.M)
    assert re.search(r"^  two_rnn +seqfw-two-eps 0\.1\.0$", rows, re.M)
    assert re.search(r"^  null +seqfw-odd-cells 0\.1\.0  SET ASIDE: .*whose name 'null' would be read by the command "
                     r"line as a value \(null\), not as a name", rows, re.M)
    assert re.search(r"^  needs_k +seqfw-odd-cells 0\.1\.0  BROKEN: .*its config NeedsK has fields without a default "
                     r"\(k\); every option needs one$", rows, re.M)
    assert re.search(r"^  reqtask +seqfw-odd-cells 0\.1\.0  BROKEN: .*its config ReqTaskConfig has fields without a "
                     r"default \(path\)", rows, re.M)


def test_options_are_checked_as_given_and_a_plugins_crash_names_its_package(more_site):
    out = python("""
        import warnings
        warnings.simplefilter("ignore")
        import seqfw
        from seqfw.cells import LSTMCell
        print(type(seqfw.make_cell("lstm", 2, 3)) is LSTMCell, seqfw.make_cell("sneaky", 2, 3).trunc)
        for name, options in (("sneaky", {"trunc": True}), ("typeerr", {"k": 2})):
            try:
                seqfw.recurrent(name, 2, 3, **options)
            except seqfw.PluginError as err:
                print("ERR", err)
    """, more_site)
    assert out.returncode == 0, out.stderr
    first, sneaky, typeerr = out.stdout.splitlines()
    assert first == "True False"
    assert sneaky == ("ERR cell=sneaky from seqfw-odd-cells 0.1.0 breaks the cell contract with cell.trunc=True: "
                      "SneakyCell: wrong shape: the output h is (3, 1) but it must be (B, H) = (3, 7); wrong shape: new "
                      "state.h is (3, 1) but the state is (3, 7). This is a bug in seqfw-odd-cells: report it, or "
                      "choose other options or another cell.")
    assert typeerr == ("ERR cell=typeerr from seqfw-odd-cells 0.1.0 failed to build with cell.k=2 (TypeError: k=2 is "
                       "not supported by this build). This is a bug in seqfw-odd-cells: report it to its authors, fix or "
                       "uninstall it, or choose another cell.")


@pytest.mark.parametrize("args, message", [
    (["task=reqtask"], "error: task 'reqtask' from plugin 'odd' (seqfw-odd-cells 0.1.0) is broken: its config "
                       "ReqTaskConfig has fields without a default (path); every option needs one. Fix or uninstall "
                       "seqfw-odd-cells, or choose another task."),
    (["cell=sneaky", "cell.trunc=true"], "error: cell=sneaky from seqfw-odd-cells 0.1.0 breaks the cell contract with "
                                         "cell.trunc=True: SneakyCell: wrong shape: the output h is (3, 1)"),
    (["--multirun", "cell=choice(lstm,needs_k)"], "error: cell 'needs_k' from plugin 'odd' (seqfw-odd-cells 0.1.0) is "
                                                  "broken"),
])
def test_the_command_line_says_why_in_one_paragraph(more_site, tmp_path, args, message):
    out = seqfw(*args, "tracking=none", *TINY, cwd=tmp_path, env=more_site)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
