"""``python -m seqfw.new_cell``: the package it writes installs for real and passes its own tests at once;
every refusal is one paragraph, exit 2, and leaves nothing behind."""
import ast
import importlib.util
import re
import resource
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET

import pytest

from seqfw.backend import cupy_available
from seqfw.plugins.hookspecs import PLUGIN_API
from seqfw.testing import CellSuite
from tests.helpers.cli import clean_env

NAME = "scaffold_probe"  # an underscore, to check the CamelCase class name and the distribution's name
PKG = f"seqfw-{NAME}"
FILES = ["README.md", "pyproject.toml", f"seqfw_{NAME}.py", f"tests/test_{NAME}.py"]


def new_cell(*args, cwd, env=None, preexec_fn=None):
    """``python -m seqfw.new_cell *args`` in ``cwd``, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "seqfw.new_cell", *args], capture_output=True, text=True,
                          cwd=cwd, env=clean_env(env), timeout=120, preexec_fn=preexec_fn)


def tree(path) -> dict:
    """Every file and directory below ``path`` (hidden ones too) -> its bytes (None for a directory)."""
    return {str(p.relative_to(path)): (None if p.is_dir() else p.read_bytes()) for p in sorted(path.rglob("*"))}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package written by the real command, then installed by pip into a throw-away site directory."""
    root = tmp_path_factory.mktemp("scaffold")
    out = new_cell(NAME, "--dir", str(root), cwd=root)
    assert out.returncode == 0, out.stderr
    site = root / "site"
    # seqfw is already installed here; without setuptools pip would fetch it for an isolated build
    build = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *build, "--target", str(site),
                          str(root / PKG)], capture_output=True, text=True, timeout=300, env=clean_env())
    assert pip.returncode == 0, pip.stderr
    return root, site, out


def test_it_writes_the_package_and_says_what_to_do_next(installed):
    root, _, out = installed
    pkg = root / PKG
    assert sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*") if p.is_file()
                  and "egg-info" not in str(p) and "build" not in p.relative_to(pkg).parts) == sorted(FILES)
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no staging directory left
    assert f"wrote ./{PKG}/ (cell={NAME}, class ScaffoldProbeCell):" in out.stdout
    for line in (f"pip install -e './{PKG}[test]'", f"python -m pytest ./{PKG}/tests", f"python -m seqfw cell={NAME}"):
        assert re.search(rf"^  {re.escape(line)} +# ", out.stdout, re.M), out.stdout
    meta = tomllib.loads((pkg / "pyproject.toml").read_text())
    project = meta["project"]
    assert (project["name"], project["version"], project["requires-python"]) == (PKG, "0.1.0", ">=3.10")
    assert project["dependencies"] == ["seqfw>=0.1,<0.2"]
    assert project["optional-dependencies"] == {"test": ["pytest>=8"]}  # not seqfw's own heavy test extra
    assert project["entry-points"]["seqfw"] == {NAME: f"seqfw_{NAME}"}
    assert meta["tool"]["setuptools"]["py-modules"] == [f"seqfw_{NAME}"]
    module = ast.parse((pkg / f"seqfw_{NAME}.py").read_text())
    consts = {t.id: n.value.value for n in module.body if isinstance(n, ast.Assign) for t in n.targets}
    assert consts["SEQFW_PLUGIN_API"] == PLUGIN_API
    assert {n.name for n in module.body if isinstance(n, ast.ClassDef)} == {"ScaffoldProbeCell", "ScaffoldProbeOptions"}
    readme = (pkg / "README.md").read_text()
    for command in (f"pip install -e './{PKG}[test]'", f"python -m pytest {PKG}/tests", f"python -m seqfw cell={NAME}"):
        assert command in readme


def test_its_own_tests_pass_once_installed(installed):
    """The generated tests, run as their author would: pytest's config is the package's own (no xdist)."""
    root, site, _ = installed
    report = root / "report.xml"
    env = {k: v for k, v in clean_env({"PYTHONPATH": str(site)}).items() if not k.startswith("PYTEST_")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
                          f"--junitxml={report}", f"{PKG}/tests"],
                         capture_output=True, text=True, cwd=root, env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert f"rootdir: {root / PKG}\nconfigfile: pyproject.toml" in out.stdout  # the package's, not seqfw's
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kind = next((c.tag for c in case if c.tag in ("skipped", "failure", "error")), "passed")
        outcomes[case.get("name")] = kind
    suite = [n for n in dir(CellSuite) if n.startswith("test_")]
    own = ["test_the_whole_kit_in_one_call", "test_a_bad_option_is_refused_naming_it",
           "test_trains_from_the_command_line"]
    # the template sets reference (its equations), so only CuPy's comparison may skip, without a GPU
    skipped = {"test_cupy_agrees_with_numpy"} if not cupy_available() else set()
    assert outcomes == {n: "skipped" if n in skipped else "passed" for n in suite + own}
    passed = len(outcomes) - len(skipped)
    assert re.search(rf"\b{passed} passed(, {len(skipped)} skipped)? in ", out.stdout), out.stdout[-500:]


def test_the_inventory_lists_it_from_its_distribution(installed):
    _, site, _ = installed
    out = subprocess.run([sys.executable, "-m", "seqfw.inventory"], capture_output=True, text=True, timeout=120,
                         env=clean_env({"PYTHONPATH": str(site)}))
    assert out.returncode == 0, out.stderr
    assert re.search(rf"^  {NAME}\s+{PKG} 0\.1\.0$", out.stdout, re.M), out.stdout


REFUSED_NAMES = [
    ("my-rnn", "'my-rnn' cannot be a cell name: a Python module name (seqfw_NAME) cannot hold a dash; use "
               "underscores. Instead, use python -m seqfw.new_cell my_rnn."),
    ("MyRNN", "'MyRNN' cannot be a cell name: cell names are lower case (cell=NAME is matched exactly). Instead, "
              "use python -m seqfw.new_cell myrnn."),
    ("2rnn", "'2rnn' cannot be a cell name: a cell name is a lower-case Python identifier: a letter, then "
             "letters, digits or underscores, not ending in '_'. Instead, use python -m seqfw.new_cell my_2rnn."),
    ("class", "'class' cannot be a cell name: it is a Python keyword. Instead, use python -m seqfw.new_cell "
              "class_cell."),
    ("null", "'null' cannot be a cell name: 'null' would be read by the command line as a value (null), not as a "
             "name. Instead, use python -m seqfw.new_cell null_cell."),
    ("lstm", "cell=lstm already exists (from seqfw "),
    ("builtin", "'builtin' is already a seqfw plugin's name (from seqfw "),
]


@pytest.mark.parametrize("name, message", REFUSED_NAMES, ids=[n for n, _ in REFUSED_NAMES])
def test_a_bad_name_is_refused_and_nothing_written(tmp_path, name, message):
    out = new_cell(name, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: " + message) and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.rstrip().endswith("Nothing was written.")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_needs_force(tmp_path):
    (tmp_path / "seqfw-mine").mkdir()
    (tmp_path / "seqfw-mine" / "notes.txt").write_text("mine")
    before = tree(tmp_path)
    out = new_cell("mine", cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert out.stderr == ("error: ./seqfw-mine already exists. Choose another NAME or --dir, remove it, or pass "
                          "--force to replace it (everything in it is deleted). Nothing was written.\n")
    assert tree(tmp_path) == before
    out = new_cell("mine", "--force", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert sorted(k for k, v in tree(tmp_path / "seqfw-mine").items() if v is not None) == \
        ["README.md", "pyproject.toml", "seqfw_mine.py", "tests/test_mine.py"]
    assert [p.name for p in tmp_path.iterdir()] == ["seqfw-mine"]  # the replaced one is gone, no leftovers


@pytest.mark.parametrize("where, message", [
    ("missing", "error: --dir {p} does not exist. Create it first (mkdir -p {p}) or pass an existing directory. "
                "Nothing was written.\n"),
    ("a_file", "error: --dir {p} is not a directory. Pass the directory to write seqfw-mine/ in. "
               "Nothing was written.\n"),
])
def test_a_dir_that_cannot_hold_the_package_is_refused(tmp_path, where, message):
    if where == "a_file":
        (tmp_path / where).write_text("")
    before = tree(tmp_path)
    out = new_cell("mine", "--dir", str(tmp_path / where), cwd=tmp_path)
    assert (out.returncode, out.stdout, out.stderr) == (2, "", message.format(p=tmp_path / where))
    assert tree(tmp_path) == before


def _tiny_files():
    """Files may hold at most 10 bytes (RLIMIT_FSIZE, root included): writing the package fails midway."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))


def test_a_write_that_fails_midway_leaves_nothing_and_keeps_what_was_there(tmp_path):
    out = new_cell("mine", cwd=tmp_path, preexec_fn=_tiny_files)
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == ("error: cannot write ./seqfw-mine/: File too large. Nothing was written. Check that the "
                          "directory is writable and has free space, or pass another --dir.\n")
    assert list(tmp_path.iterdir()) == []
    assert new_cell("mine", cwd=tmp_path).returncode == 0
    (tmp_path / "seqfw-mine" / "README.md").write_text("edited")
    before = tree(tmp_path)
    out = new_cell("mine", "--force", cwd=tmp_path, preexec_fn=_tiny_files)
    assert out.returncode == 2 and "File too large" in out.stderr
    assert tree(tmp_path) == before  # --force replaces only once the new package is whole


def test_its_own_installed_name_is_refused_unless_forced(installed, tmp_path):
    """Once seqfw-NAME is installed, NAME is taken; writing it again is what --force is for."""
    _, site, _ = installed
    out = new_cell(NAME, cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == (f"error: cell={NAME} is already installed, from {PKG} 0.1.0, the package this command "
                          f"writes for that name. To write it again, pass --force (its directory is replaced, the "
                          f"installation stays), or first pip uninstall {PKG}. Nothing was written.\n")
    assert list(tmp_path.iterdir()) == []
    forced = new_cell(NAME, "--force", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert forced.returncode == 0 and (tmp_path / PKG / "pyproject.toml").is_file(), forced.stderr
