"""The layers and their rules (docs/architecture.md), checked by import-linter on every test run.

The contracts live in pyproject.toml. The first test lints the package itself; the others
plant one violation each in a copy of the package (renamed, so that whatever seqfw is
installed cannot be analysed instead) and show that the contract it breaks fails the check.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _contracts() -> str:
    """pyproject.toml's import-linter configuration (its last section)."""
    text = (REPO / "pyproject.toml").read_text()
    return text[text.index("[tool.importlinter]"):]


def lint(config: Path, cwd: Path, pythonpath: Path | None = None, contract: str | None = None):
    env = {"PATH": str(LINT.parent), "COLUMNS": "200", **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    only = ["--contract", contract] if contract else []
    return subprocess.run([str(LINT), str(config), "--no-cache", "--no-logo", *only], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_the_package_keeps_every_contract(tmp_path):
    config = tmp_path / "importlinter.toml"
    config.write_text(_contracts())
    out = lint(config, REPO)
    declared = len(re.findall(r"^\[\[tool\.importlinter\.contracts\]\]", _contracts(), flags=re.M))
    assert declared >= 6
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Contracts: {declared} kept, 0 broken." in out.stdout


# (module of the copy, the line planted at its end, the id of the contract that must then fail)
VIOLATIONS = [
    ("engine/tree.py", "from ..plugins import registry", "layers"),
    ("tasks/vocab.py", "from ..runner import settings", "layers"),
    ("engine/recurrence/unroll.py", "from ...cli import main", "layers"),
    ("plugins/hookspecs.py", "from ..bench import throughput", "layers"),
    ("engine/tree.py", "from . import optim", "acyclic"),
    ("tasks/data.py", "from . import base", "acyclic"),
    ("runner/loop.py", "import mlflow", "mlflow"),
    ("cli/inventory.py", "from mlflow.tracking import MlflowClient", "mlflow"),
    ("runner/build.py", "import hydra", "hydra"),
    ("tasks/base.py", "import cupy", "cupy"),
    ("engine/layers.py", "import cupyx", "cupy"),
    ("engine/optim.py", "import pluggy", "engine"),
    ("engine/cells/base.py", "from omegaconf import OmegaConf", "engine"),
]


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("lint")
    shutil.copytree(REPO / "seqfw", root / "seqcopy", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "contracts.toml").write_text(_contracts().replace('"seqfw"', '"seqcopy"').replace("seqfw.", "seqcopy."))
    clean = lint(root / "contracts.toml", root, root)
    assert clean.returncode == 0 and "0 broken" in clean.stdout, clean.stdout + clean.stderr  # the copy as shipped
    return root


@pytest.mark.parametrize("module, line, contract", VIOLATIONS, ids=[f"{v[0]}:{v[1].split()[-1]}" for v in VIOLATIONS])
def test_a_planted_violation_fails_the_check(copy, module, line, contract):
    path = copy / "seqcopy" / module
    original = path.read_text()
    try:
        path.write_text(original + "\n" + line + "\n")
        out = lint(copy / "contracts.toml", copy, copy, contract)
    finally:
        path.write_text(original)
    assert out.returncode != 0 and "0 kept, 1 broken" in out.stdout, out.stdout + out.stderr
