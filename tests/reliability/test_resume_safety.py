"""Resume cannot corrupt a run's history, through the real CLI and a real MLflow store.

A checkpoint resumed twice, a checkpoint of a FINISHED run, a checkpoint whose run or another
resume of it is still going on, and a run killed with SIGKILL: each either continues the run
(when that is safe), becomes a new run linked to it (tags ``seqfw.resumed_from``,
``seqfw.resumed_from_step``), or is refused with the reason; no metric ever has two points at
one step, and nothing is left RUNNING.
"""
from __future__ import annotations

import signal

from tests.helpers.store import assert_all_terminal, assert_no_duplicate_steps, assert_refused, runs
from tests.reliability.test_run_life import ARGS, launch, wait_for_pause

MORE = "train.steps=40"  # a resume may raise train.steps


def run(cwd, *args, env=None):
    proc = launch(cwd, [*ARGS, *args], env)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def stopped_run(cwd, sig=signal.SIGTERM, phase="loop"):
    """A run stopped by ``sig`` while paused at ``phase``; its output directory's checkpoint."""
    proc = launch(cwd, [*ARGS, "hydra.run.dir=orig"], {"SEQFW_TEST_PAUSE_AT": phase})
    wait_for_pause(proc)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    return cwd / "orig" / "checkpoint.npz"


def by_id(cwd):
    return {r["run_id"]: r for r in runs(cwd)}


def test_resuming_one_checkpoint_twice_never_interleaves_histories(tmp_path):
    ckpt = stopped_run(tmp_path)
    (first_id,) = by_id(tmp_path)
    code, _, err = run(tmp_path, f"train.resume={ckpt}", "hydra.run.dir=r1")
    assert code == 0 and f"resume: continuing MLflow run {first_id} after step 1" in err, err[-2000:]
    code, out, err = run(tmp_path, f"train.resume={ckpt}", "hydra.run.dir=r2")
    assert code == 0, err[-2000:]
    assert f"resume: run {first_id} is FINISHED, so this continues as a new MLflow run" in err
    found = by_id(tmp_path)
    (second_id,) = set(found) - {first_id}
    assert found[second_id]["tags"]["seqfw.resumed_from"] == first_id
    assert found[second_id]["tags"]["seqfw.resumed_from_step"] == "1"
    assert found[second_id]["params"]["train.steps"] == "30"  # a new run carries its own params
    for r in found.values():
        assert_no_duplicate_steps(r)
        assert r["status"] == "FINISHED" and r["steps"]["val/entity_f1"] == [10, 20, 30]


def test_a_finished_run_is_never_reopened(tmp_path):
    code, out, err = run(tmp_path, "hydra.run.dir=orig")
    assert code == 0, err[-2000:]
    (old,) = runs(tmp_path)
    code, out, err = run(tmp_path, f"train.resume={tmp_path / 'orig' / 'checkpoint.npz'}", MORE, "hydra.run.dir=r1")
    assert code == 0 and f"resume: run {old['run_id']} is FINISHED, so this continues as a new MLflow run" in err
    found = by_id(tmp_path)
    assert found[old["run_id"]] == old  # status, params, tags and history untouched
    (new,) = [r for r in found.values() if r["run_id"] != old["run_id"]]
    assert new["status"] == "FINISHED" and new["params"]["train.steps"] == "40"
    assert new["steps"]["val/entity_f1"] == [40] and new["tags"]["seqfw.resumed_from_step"] == "30"


def test_a_resume_while_another_resume_of_it_runs_is_refused(tmp_path):
    ckpt = stopped_run(tmp_path)
    (run_id,) = by_id(tmp_path)
    first = launch(tmp_path, [*ARGS, f"train.resume={ckpt}", "hydra.run.dir=r1"], {"SEQFW_TEST_PAUSE_AT": "loop"})
    wait_for_pause(first)
    try:
        code, out, err = run(tmp_path, f"train.resume={ckpt}", "hydra.run.dir=r2")
        assert_refused(type("Out", (), {"returncode": code, "stdout": out, "stderr": err}),
                       "that checkpoint's run is still going on in another process", "Wait for it to stop")
        assert list(by_id(tmp_path)) == [run_id]  # nothing created
        assert not (tmp_path / "r2" / "checkpoint.npz").exists()
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert by_id(tmp_path)[run_id]["status"] == "KILLED"


def test_resuming_a_run_that_is_still_training_is_refused(tmp_path):
    """The original still holds its directory (paused while logging its model): its checkpoint is taken."""
    proc = launch(tmp_path, [*ARGS, "hydra.run.dir=orig"], {"SEQFW_TEST_PAUSE_AT": "model"})
    wait_for_pause(proc)
    try:
        code, out, err = run(tmp_path, f"train.resume={tmp_path / 'orig' / 'checkpoint.npz'}", MORE,
                             "hydra.run.dir=r1")
        assert code == 2 and "Traceback" not in err and "still going on in another process" in err, err[-2000:]
        assert [r["status"] for r in runs(tmp_path)] == ["RUNNING"]  # the original's, untouched
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    assert_all_terminal(tmp_path)


def test_after_kill_9_the_run_is_marked_killed_and_continued(tmp_path):
    ckpt = stopped_run(tmp_path, signal.SIGKILL, phase="model")  # all 30 steps done, the final checkpoint written
    (old,) = runs(tmp_path)
    assert old["status"] == "RUNNING"  # what SIGKILL leaves: nothing can run in the killed process
    code, out, err = run(tmp_path, f"train.resume={ckpt}", MORE, "hydra.run.dir=r1")
    assert code == 0 and f"resume: continuing MLflow run {old['run_id']} after step 30" in err, err[-2000:]
    (after,) = runs(tmp_path)
    assert after["status"] == "FINISHED" and after["steps"]["val/entity_f1"] == [10, 20, 30, 40]
    assert_no_duplicate_steps(after)


def test_after_kill_9_a_stale_checkpoint_becomes_a_new_linked_run(tmp_path):
    """Killed after its history went past the checkpoint's step: continuing would log those steps twice."""
    args = [*ARGS, "hydra.run.dir=orig", "train.checkpoint_every=20"]  # checkpoints at 20; metrics up to 30
    proc = launch(tmp_path, args, {"SEQFW_TEST_PAUSE_AT": "model"})
    wait_for_pause(proc)
    stale = tmp_path / "stale.npz"
    # the periodic checkpoint after step 20 is gone (the final one replaced it): train a twin to step 20
    twin = run(tmp_path, "hydra.run.dir=twin", "train.steps=20", "tracking=none")
    assert twin[0] == 0, twin[2][-2000:]
    proc.kill()
    proc.communicate(timeout=60)
    (tmp_path / "twin" / "checkpoint.npz").rename(stale)
    # the twin's checkpoint names no MLflow run (tracking=none): give it the killed run's id
    import numpy as np

    (old,) = runs(tmp_path)
    with np.load(stale) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["state/run_id"] = np.array(old["run_id"])
    np.savez(tmp_path / "orig" / "stale.npz", **arrays)
    code, out, err = run(tmp_path, f"train.resume={tmp_path / 'orig' / 'stale.npz'}", "hydra.run.dir=r1")
    assert code == 0, err[-2000:]
    assert "has metrics up to step 30, past this checkpoint's step 20" in err
    found = by_id(tmp_path)
    assert found[old["run_id"]]["status"] == "KILLED"  # found RUNNING with nobody behind it
    (new,) = [r for r in found.values() if r["run_id"] != old["run_id"]]
    assert new["status"] == "FINISHED" and new["steps"]["val/entity_f1"] == [30]
    for r in found.values():
        assert_no_duplicate_steps(r)
