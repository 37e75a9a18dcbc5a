"""docs/plugins.md builds a plugin step by step; this builds it from the page itself (each code block that
starts with ``# <file>``), installs it as a real distribution and holds the page to what it shows: the
plugin's tests pass, the messages it quotes are the kit's, and the commands it lists work."""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seqfw.backend import cupy_available
from seqfw.testing import CellSuite
from tests.helpers.cli import clean_env
from tests.helpers.dists import install

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
FILES = ["pyproject.toml", "seqfw_scaledrnn.py", "tests/test_scaledrnn.py"]


def files_in_guide() -> dict[str, str]:
    """{file name: text} for every fenced block whose first line is ``# <file name>``."""
    blocks = re.findall(r"```(?:python|toml)\n# (\S+)\n(.*?)```", GUIDE.read_text(), re.S)
    return {name: body for name, body in blocks}


def write_package(root: Path, edit=None) -> Path:
    pkg = root / "seqfw-scaledrnn"
    for name, body in files_in_guide().items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(edit(name, body) if edit else body)
    return pkg


def run(args, env, cwd, timeout=300):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=clean_env(env), cwd=cwd,
                          timeout=timeout)


@pytest.fixture(scope="module")
def guide_plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("guide")
    return root, install([write_package(root)], root)


def test_the_guide_shows_every_file_of_the_plugin():
    assert sorted(files_in_guide()) == sorted(FILES)


def test_the_guides_plugin_passes_its_own_tests(guide_plugin):
    root, site = guide_plugin
    out = run(["-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q", "seqfw-scaledrnn/tests"], site, root)
    assert out.returncode == 0, out.stdout[-3000:]
    kit = [n for n in dir(CellSuite) if n.startswith("test_")]  # each part of the kit, plus test_whole_kit
    skipped = 0 if cupy_available() else 1  # CuPy's comparison, without a GPU
    assert re.search(rf"\b{len(kit) + 1 - skipped} passed(, {skipped} skipped)? in ", out.stdout), out.stdout[-500:]


def test_the_guides_commands_show_what_it_says(guide_plugin):
    root, site = guide_plugin
    listing = run(["-m", "seqfw.inventory"], site, root).stdout
    assert re.search(r"^  scaledrnn +seqfw-scaledrnn 0\.1\.0$", listing, re.M)
    assert re.search(r"^  seqfw_scaledrnn|^  scaledrnn +seqfw-scaledrnn 0\.1\.0  \(plugin API 1\.0\)$", listing, re.M)
    shown = run(["-m", "seqfw", "--help"], site, root).stdout
    assert re.search(r"^  scaledrnn +hidden_size=64 u_init=0\.5   \[seqfw-scaledrnn 0\.1\.0\]$", shown, re.M)
    code = textwrap.dedent("""
        import seqfw
        net = seqfw.recurrent("scaledrnn", input_size=8, hidden_size=32, num_layers=2, bidirectional=True, u_init=0.9)
        cell = seqfw.make_cell("scaledrnn", 8, 32, u_init=0.9)
        print(net.output_size, cell.u_init)
        try:
            seqfw.recurrent("scaledrnn", 8, 32, u_int=0.9)
        except seqfw.PluginError as err:
            print(err)
    """)
    out = run(["-c", code], site, root)
    assert out.stdout.splitlines() == ["64 0.9", "cell 'scaledrnn' has no option 'u_int'; its options are: u_init."]


def test_the_failure_the_guide_quotes_is_what_the_kit_says(tmp_path):
    """The guide's example bug (the tanh derivative dropped) gives the report the guide prints."""
    def drop_the_derivative(name, body):
        return body.replace("dz = (da + dstate.h) * (1 - a * a)", "dz = da + dstate.h") if name.endswith("rnn.py") else body

    pkg = write_package(tmp_path, drop_the_derivative)
    site = install([pkg], tmp_path / "broken")
    out = run(["-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q", "-k", "test_whole_kit", str(pkg / "tests")],
              site, tmp_path)
    assert out.returncode == 1
    quoted = re.search(r"```\n(ScaledRNNCell: gradients wrong in set-up .*?)```", GUIDE.read_text(), re.S).group(1)
    for line in quoted.splitlines():  # the kit's draws are seeded: the very numbers the guide shows
        assert line.strip() in out.stdout, (line, out.stdout[-3000:])
