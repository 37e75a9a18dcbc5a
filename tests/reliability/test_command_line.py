"""What a shell lets a user type, and what a machine can do to a run, through the real CLI: each is refused
or ended in one paragraph, with no traceback, nothing written where it was refused, and the store true.

Found by trying the command line as an adversary would: an override split by the shell, a space before
'=', a sweep without --multirun, a sweep over where runs are stored, Hydra's pickle-loading
``--experimental-rerun``, a device as a data file, two runs given one directory, the terminal closing
(SIGHUP), a full disk (a file-size limit) while a checkpoint is written.
"""
from __future__ import annotations

import pickle
import resource
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.cli import clean_env, seqfw
from tests.helpers.store import assert_refused, runs, seed_store
from tests.reliability.test_run_life import ARGS, launch, printed_status, store_status, wait_for_pause


class Planted:
    """Unpickling this creates a file: the proof that a pickle was loaded."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


REFUSALS = [  # (id, arguments, texts of the message)
    ("rerun-pickle", ["--experimental-rerun", "{tmp}/config.pickle"],
     ["--experimental-rerun loads a pickled config", "seqfw refuses it", ".hydra/overrides.yaml"]),
    ("split-value", ["tracking.run_name=my", "run"], ["cannot read the override 'run'", "quote a value with spaces"]),
    ("space-before-equals", ["cell =lstm"], ["cannot read the override 'cell =lstm'", "no spaces around '='"]),
    ("sweep-without-multirun", ["seed=range(0,3)"], ["seed=range(0,3) is a sweep", "needs --multirun"]),
    ("sweep-over-stores", ["--multirun", "tracking.uri=sqlite:///a.db,sqlite:///b.db"],
     ["a sweep's runs are kept in one store", "Run one sweep per store"]),
    ("device-as-data", ["task=char_lm", "task.data.path=/dev/zero"], ["'/dev/zero' is not a regular file"]),
]


def _refuse(case, root: Path):
    name, args, _ = case
    tmp = root / name
    tmp.mkdir()
    with open(tmp / "config.pickle", "wb") as f:
        pickle.dump(Planted(str(tmp / "PWNED")), f)
    return tmp, seqfw(*[a.format(tmp=tmp) for a in args], "train.progress=false", cwd=tmp, timeout=120)


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    root = tmp_path_factory.mktemp("command_line")
    with ThreadPoolExecutor(2) as pool:
        return dict(zip((c[0] for c in REFUSALS), pool.map(lambda c: _refuse(c, root), REFUSALS), strict=True))


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refused_in_one_paragraph_with_nothing_written(case, refusals):
    name, _, texts = case
    tmp, out = refusals[name]
    assert_refused(out, *texts)
    assert not (tmp / "PWNED").exists()  # the pickle was never loaded
    left = sorted(p.name for p in tmp.iterdir())
    assert left == ["config.pickle"] + (["outputs"] if name == "device-as-data" else []), left  # no store
    # (refused before Hydra runs, no output directory either; the data file is read once the job runs)


def test_two_runs_given_one_directory_never_mix_their_files(tmp_path):
    first = launch(tmp_path, [*ARGS, "hydra.run.dir=shared", "seed=1"], {"SEQFW_TEST_PAUSE_AT": "loop"})
    wait_for_pause(first)
    try:
        second = launch(tmp_path, [*ARGS, "hydra.run.dir=shared", "seed=2"])
        out, err = second.communicate(timeout=120)
        assert_refused(type("Out", (), {"returncode": second.returncode, "stdout": out, "stderr": err}),
                       "hydra.run.dir=shared is in use by another running seqfw process")
        assert "seed=2" not in (tmp_path / "shared/.hydra/overrides.yaml").read_text()  # the first's, untouched
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert [r["params"]["seed"] for r in runs(tmp_path)] == ["1"]


def test_the_terminal_closing_stops_the_run_like_sigterm(tmp_path):
    proc = launch(tmp_path, ARGS, {"SEQFW_TEST_PAUSE_AT": "loop"})
    wait_for_pause(proc)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGHUP and "Traceback" not in err, err[-3000:]
    run_id, status = printed_status(err)
    assert store_status(tmp_path) == {run_id: "KILLED"} == {run_id: status}
    assert "interrupted by SIGHUP" in err and "The state after step 1 is saved in" in err


def test_a_full_disk_while_a_checkpoint_is_written_is_said_and_leaves_no_temporary(tmp_path):
    """A file-size limit makes the checkpoint write fail as a full disk does (EFBIG, like ENOSPC)."""
    limit = 2_000_000  # bytes: the store fits, a checkpoint of this network does not

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    seed_store(tmp_path)  # outside the limit
    args = [*ARGS, "cell.hidden_size=256", "hydra.run.dir=run"]
    out = subprocess.run([sys.executable, "-m", "seqfw", *args], capture_output=True, text=True, cwd=tmp_path,
                         env=clean_env(), timeout=180, preexec_fn=limited)
    message = assert_refused(out, "error: cannot write", "File too large", "Free space", code=1)
    assert "This is a bug" not in message
    assert [r["status"] for r in runs(tmp_path)] == ["FAILED"]
    assert not list((tmp_path / "run").glob("*.tmp.npz")) and not (tmp_path / "run/checkpoint.npz").exists()
