"""Runs started together in one directory, through the real CLI: on a fresh default store
(./mlflow.db), and in the same second.

Before: of two runs started on a fresh mlflow.db, one crashed migrating the schema the other was
migrating; and runs started in the same second shared outputs/<date>/<HH-MM-SS>, so one run's
logged overrides named the other's settings. Now the store is created under a lock, and each run
makes its own output directory (``seqfw.cli.launch``). The race is repeated (three trials of three
runs, each trial on a new store) so that a failure one time in three cannot pass.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seqfw.cli.launch import claim_output_dir
from seqfw.runner.tracking import PARENT_FILE
from tests.helpers.cli import TINY, clean_env
from tests.helpers.store import artifacts, assert_all_terminal

FAST = [*TINY, "train.steps=4", "train.eval_every=4", "train.log_every=2", "task.num_sentences=60"]
CELLS = ("lstm", "gru", "rnn")


def start(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqfw", *args, *FAST], cwd=cwd, env=clean_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish_all(procs: list[subprocess.Popen]) -> None:
    """Every process ends with exit status 0 and no traceback."""
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]


def overrides(path: Path) -> list[str]:
    return yaml.safe_load(path.read_text())


# What each trial starts at once, on a new store: three runs; in the last, two of them are sweeps (one job
# each), whose directories hold their parent run's id for their jobs, so two sweeps must not share one either.
TRIALS = {"three-runs-1": (), "three-runs-2": (), "a-run-and-two-sweeps": ("gru", "rnn")}


@pytest.mark.parametrize("sweeping", TRIALS.values(), ids=TRIALS.keys())
def test_three_started_at_once_on_a_fresh_store_all_finish_each_in_its_own_directory(tmp_path, sweeping):
    finish_all([start(tmp_path, *(["--multirun"] if cell in sweeping else []), f"cell={cell}") for cell in CELLS])
    found = assert_all_terminal(tmp_path)
    jobs = [r for r in found if "cell" in r["tags"]]
    assert sorted((r["tags"]["cell"], r["status"]) for r in jobs) == sorted((c, "FINISHED") for c in CELLS)
    for run in jobs:  # what each run logged names its own settings, not another run's
        cell = run["tags"]["cell"]
        assert f"cell={cell}" in run["tags"]["overrides"].split()
        assert f"cell={cell}" in overrides(artifacts(tmp_path, run["run_id"]) / "config/hydra/overrides.yaml")
        if "seqfw.output_dir" in run["tags"]:
            assert f"cell={cell}" in overrides(Path(run["tags"]["seqfw.output_dir"]) / ".hydra/overrides.yaml")
    dirs = sorted(tmp_path.glob("outputs/*/*")) + sorted(tmp_path.glob("multirun/*/*/0"))
    assert sorted(cell_of(d) for d in dirs) == sorted(CELLS)
    assert all((d / "checkpoint.npz").is_file() for d in dirs)
    sweeps = sorted(tmp_path.glob("multirun/*/*"))
    assert len(sweeps) == len(sweeping)
    for sweep in sweeps:  # each sweep's marker names its own parent, whose one child is its job
        parent = (sweep / PARENT_FILE).read_text().strip()
        assert [r["tags"]["cell"] for r in jobs if r["tags"].get("mlflow.parentRunId") == parent] == \
               [cell_of(sweep / "0")]


def cell_of(run_dir: Path) -> str:
    """The cell= override a run's own directory recorded."""
    return next(o for o in overrides(run_dir / ".hydra/overrides.yaml") if o.startswith("cell="))[len("cell="):]


def test_runs_claiming_the_same_second_get_numbered_directories(tmp_path):
    """The guarantee itself: names are taken with an atomic mkdir, the second and third get -2 and -3."""
    now = 1_700_000_000.0
    claimed = [claim_output_dir(tmp_path / "outputs", now) for _ in range(3)]
    base = claimed[0].name
    assert [p.name for p in claimed] == [base, f"{base}-2", f"{base}-3"]
    assert all(p.is_dir() for p in claimed)
