"""A run always ends in a true state, through the real CLI and a real MLflow store.

Signals at each phase of a run's life, several Ctrl-C in quick succession, a MemoryError or a
crash in each phase, sweeps whose jobs fail or are stopped: each case asserts the exit status,
the message (no traceback unless it is a bug report), that what was printed is what the store
holds, and that no run is left RUNNING. ``SEQFW_TEST_PAUSE_AT`` makes a run wait at a phase until
the signal comes, so each case hits its phase every time (seqfw/runner/life.py).
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.cli import TINY, clean_env
from tests.helpers.store import assert_all_terminal, runs, seed_store

ARGS = [a for a in TINY if not a.startswith(("train.steps", "train.eval_every"))] + [
    "train.steps=30", "train.eval_every=10", "train.grad_curves=0"]  # curves: not what these tests are about
SWEEP = ["train.steps=10", "train.eval_every=10", "train.batch_size=8", "task.num_sentences=60",
         "task.embed_dim=8", "train.progress=false"]


def launch(cwd: Path, args: list[str], env: dict | None = None) -> subprocess.Popen:
    """``python -m seqfw *args`` started in ``cwd``, whose MLflow store is an empty one if it has none yet."""
    if not (cwd / "mlflow.db").exists():
        seed_store(cwd)
    return subprocess.Popen([sys.executable, "-m", "seqfw", *args], cwd=cwd, env=clean_env(env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_pause(proc: subprocess.Popen, timeout: float = 120) -> list[str]:
    """Read stderr until the run says it is paused; the lines read so far."""
    lines, deadline = [], time.monotonic() + timeout
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("seqfw: paused at"):
            return lines
        assert time.monotonic() < deadline, "".join(lines)
    raise AssertionError("the run ended without pausing:\n" + "".join(lines) + proc.stdout.read())


def stop_at(cwd: Path, phase: str, signals: list[tuple[int, float]], args=ARGS):
    """Run paused at ``phase``, then send each (signal, delay after it); (exit code, stdout, stderr)."""
    cwd.mkdir(parents=True, exist_ok=True)
    proc = launch(cwd, args, {"SEQFW_TEST_PAUSE_AT": phase})
    before = wait_for_pause(proc)
    for sig, delay in signals:
        proc.send_signal(sig)
        time.sleep(delay)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, "".join(before) + err


def printed_status(text: str) -> tuple[str, str] | None:
    """(run id, status) as the message says it, e.g. 'the MLflow run <id> is KILLED'."""
    m = re.search(r"MLflow run ([0-9a-f]{32}) is ([A-Z]+)", text)
    return (m.group(1), m.group(2)) if m else None


def store_status(cwd: Path) -> dict[str, str]:
    return {r["run_id"]: r["status"] for r in runs(cwd)}


# -- a signal at each phase of a run's life --------------------------------------------------
PHASE_CASES = {  # phase -> (exit code, store status of the run, text of the message)
    "setup": (130, None, "before the run started: nothing was recorded in MLflow"),
    "tracker": (130, "KILLED", "before any checkpoint was written"),
    "loop": (130, "KILLED", "The state after step 1 is saved in"),
    "checkpoint": (130, "KILLED", "The state after step 10 is saved in"),
    "model": (130, "KILLED", "while the finished model was being logged: all 30 steps were done"),
    "finish": (0, "FINISHED", "== seqfw summary =="),
}


@pytest.fixture(scope="module")
def phase_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("phases")
    with ThreadPoolExecutor(2) as pool:
        done = pool.map(lambda p: (p, stop_at(root / p, p, [(signal.SIGINT, 0)])), PHASE_CASES)
        return {p: (root / p, *r) for p, r in done}


@pytest.mark.parametrize("phase", list(PHASE_CASES))
def test_a_signal_at_each_phase_ends_in_the_state_it_reports(phase, phase_results):
    cwd, code, out, err = phase_results[phase]
    want_code, want_status, text = PHASE_CASES[phase]
    assert code == want_code, err[-3000:]
    assert "Traceback" not in out + err, err[-3000:]
    assert text in out + err, err[-3000:]
    statuses = store_status(cwd)
    if want_status is None:  # stopped before the run was created: nothing in the store
        assert statuses == {} and not (cwd / "mlruns").exists(), statuses
        return
    assert list(statuses.values()) == [want_status], statuses
    run_id, status = printed_status(out + err) or (re.search(r"MLflow run ([0-9a-f]{32})", out).group(1), "FINISHED")
    assert statuses[run_id] == status == want_status  # printed == stored


# -- several signals in quick succession ---------------------------------------------------------
BURSTS = [(2, 0.0), (5, 0.0), (3, 0.02), (5, 0.1)]  # (how many SIGINT, seconds apart)


@pytest.fixture(scope="module")
def burst_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("bursts")
    args = [*(a for a in ARGS if not a.startswith(("train.steps", "train.eval_every"))), "train.steps=400",
            "train.eval_every=5"]  # steps take a while: signals land mid-step

    def one(i_case):
        i, (n, gap) = i_case
        return stop_at(root / str(i), "loop", [(signal.SIGINT, gap)] * n, args)

    with ThreadPoolExecutor(2) as pool:
        return [(root / str(i), r) for i, r in enumerate(pool.map(one, enumerate(BURSTS)))]


@pytest.mark.parametrize("i", range(len(BURSTS)), ids=[f"{n}xSIGINT-{gap}s" for n, gap in BURSTS])
def test_a_burst_of_ctrl_c_ends_like_one(i, burst_results):
    cwd, (code, out, err) = burst_results[i]
    assert code == 130, err[-3000:]
    assert "Traceback" not in err and err.count("interrupted by SIGINT") == 1, err[-3000:]
    run_id, status = printed_status(err)
    assert store_status(cwd) == {run_id: "KILLED"} and status == "KILLED"
    if "is saved in" in err:  # the first signal was honoured: the checkpoint named is there and whole
        path = re.search(r"is saved in (\S+checkpoint\.npz)", err).group(1)
        assert Path(path).is_file() and not list(Path(path).parent.glob("*.tmp.npz"))


# -- a MemoryError or a crash in each phase --------------------------------------------------
FAULTS = [("setup", "MemoryError"), ("tracker", "MemoryError"), ("loop", "MemoryError"),
          ("model", "MemoryError"), ("finish", "RuntimeError")]


@pytest.fixture(scope="module")
def fault_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")

    def one(fault):
        cwd = root / "-".join(fault)
        cwd.mkdir()
        out = launch(cwd, ARGS, {"SEQFW_TEST_FAULT_AT": ":".join(fault)})
        stdout, stderr = out.communicate(timeout=120)
        return cwd, out.returncode, stdout, stderr

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(FAULTS, pool.map(one, FAULTS), strict=True))


@pytest.mark.parametrize("fault", FAULTS, ids=["-".join(f) for f in FAULTS])
def test_an_error_in_any_phase_leaves_the_run_failed(fault, fault_results):
    cwd, code, out, err = fault_results[fault]
    phase, kind = fault
    assert code == 1, err[-3000:]
    if kind == "MemoryError":  # a resource, said in one paragraph
        assert "error: out of memory" in err and "Lower train.batch_size" in err and "Traceback" not in err, err
    else:  # a bug: the traceback and where to report it
        assert "This is a bug in seqfw or in a plugin" in err
    assert "== seqfw summary ==" not in out
    statuses = store_status(cwd)
    assert list(statuses.values()) == ([] if phase == "setup" else ["FAILED"]), statuses


# -- sweeps ----------------------------------------------------------------------------------
def sweep(cwd: Path, *args, env=None):
    cwd.mkdir(parents=True, exist_ok=True)
    proc = launch(cwd, ["--multirun", *SWEEP, *args], env)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def parent_and_children(cwd: Path):
    found = runs(cwd)
    parents = [r for r in found if r["tags"].get("seqfw.sweep") == "parent"]
    assert len(parents) == 1, found
    children = [r for r in found if r["tags"].get("mlflow.parentRunId") == parents[0]["run_id"]]
    return parents[0], children


def test_a_sweep_job_that_fails_before_its_run_exists_is_recorded_failed(tmp_path):
    code, out, err = sweep(tmp_path, "cell.hidden_size=8,-1")
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert "error: cell.hidden_size must be >= 1, got -1" in err
    assert "sweep: 1 of 2 jobs did not finish" in err and "== sweep summary (2 jobs, 2 runs;" in out
    parent, children = parent_and_children(tmp_path)
    assert parent["status"] == "FAILED" and f"parent MLflow run {parent['run_id']} is FAILED" in out
    assert sorted(c["status"] for c in children) == ["FAILED", "FINISHED"]
    failed = next(c for c in children if c["status"] == "FAILED")
    assert failed["tags"]["seqfw.error"] == "cell.hidden_size must be >= 1, got -1"
    assert "cell.hidden_size=-1" in failed["name"]
    # its choices are tagged as a finished run's are, once each (`cell`, not also `choice.cell`)
    assert (failed["tags"]["cell"], failed["tags"]["task"]) == ("lstm", "ner")
    assert not [k for k in failed["tags"] if k.startswith("choice.")]
    assert_all_terminal(tmp_path)


def test_a_sweep_whose_every_job_fails_exits_non_zero(tmp_path):
    code, out, err = sweep(tmp_path, "optim.lr=-1,-2")
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert "sweep: 2 of 2 jobs did not finish" in err
    parent, children = parent_and_children(tmp_path)
    assert parent["status"] == "FAILED" and [c["status"] for c in children] == ["FAILED", "FAILED"]


def test_a_memory_error_in_a_sweep_job_leaves_no_run_running(tmp_path):
    code, out, err = sweep(tmp_path, "cell=rnn,gru", env={"SEQFW_TEST_FAULT_AT": "model:MemoryError"})
    assert code == 1 and err.count("error: out of memory") == 2, err[-3000:]
    parent, children = parent_and_children(tmp_path)
    assert parent["status"] == "FAILED" and [c["status"] for c in children] == ["FAILED", "FAILED"]
    assert "== sweep summary (2 jobs, 2 runs;" in out
    assert_all_terminal(tmp_path)


def test_a_sweep_stopped_by_ctrl_c_is_killed_with_its_summary(tmp_path):
    proc = launch(tmp_path, ["--multirun", *SWEEP, "cell=rnn,gru"], {"SEQFW_TEST_PAUSE_AT": "loop"})
    before = wait_for_pause(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    err = "".join(before) + err
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    parent, children = parent_and_children(tmp_path)
    assert parent["status"] == "KILLED" and [c["status"] for c in children] == ["KILLED"]  # job 2 never started
    assert f"parent MLflow run {parent['run_id']} is KILLED" in err and "cut short: KILLED" in err
    assert_all_terminal(tmp_path)
