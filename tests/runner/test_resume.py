"""Interrupt and resume, through the real CLI: SIGTERM/SIGINT during training save the whole
training state and mark the MLflow run KILLED; `train.resume=` continues the same run, and the
result equals an uninterrupted run's bit for bit (NumPy)."""
import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers.cli import TINY, client_for, seqfw

ARGS = [*[a for a in TINY if not a.startswith("train.steps")], "train.steps=200", "train.eval_every=50",
        "train.checkpoint_every=10", "topology.dropout=0.2", "topology.num_layers=2"]  # dropout: device RNG too


def start(tmp_path, run_dir, *extra):
    return subprocess.Popen([sys.executable, "-m", "seqfw", *ARGS, f"hydra.run.dir={run_dir}", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def interrupt(tmp_path, run_dir, sig):
    proc = start(tmp_path, run_dir)
    ckpt = tmp_path / run_dir / "checkpoint.npz"
    deadline = time.monotonic() + 120
    while not ckpt.exists():  # the first periodic checkpoint: training is under way
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err, ckpt


def summary_metrics(stdout: str) -> str:
    return re.search(r"last train/loss .*\n.*\n", stdout).group(0)


@pytest.mark.slow
def test_sigterm_then_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    full = seqfw(*ARGS, "hydra.run.dir=full", cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-2000:]

    code, _, err, ckpt = interrupt(tmp_path, "part", signal.SIGTERM)
    assert code == 128 + signal.SIGTERM and "Traceback" not in err, err[-2000:]
    step = int(re.search(r"The state after step (\d+) is saved", err).group(1))
    assert 10 <= step < 200 and f"train.resume={ckpt}" in err
    with np.load(ckpt) as saved:
        assert int(saved["step"]) == step and "state/rng.host" in saved.files and "state/rng.device" in saved.files
        assert any(k.startswith("state/optim/") for k in saved.files)
    client = client_for(tmp_path)
    run_id = str(np.load(ckpt)["state/run_id"])
    assert client.get_run(run_id).info.status == "KILLED"

    resumed = seqfw(*ARGS, "hydra.run.dir=part", f"train.resume={ckpt}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert summary_metrics(resumed.stdout) == summary_metrics(full.stdout)  # final loss and every metric
    with np.load(tmp_path / "full" / "checkpoint.npz") as a, np.load(ckpt) as b:
        params = [k for k in a.files if k.startswith("params/")]
        assert len(params) == 9 and int(b["step"]) == 200
        for k in params:
            np.testing.assert_array_equal(b[k], a[k], err_msg=k)  # bit for bit
    # the same MLflow run, finished, its histories whole and equal to the uninterrupted run's
    assert run_id in resumed.stdout
    full_id = re.search(r"MLflow run ([0-9a-f]{32})", full.stdout).group(1)
    assert client.get_run(run_id).info.status == "FINISHED"
    for key in ("train/loss", "val/entity_f1", "grad_norm/global"):
        got = [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
        want = [(m.step, m.value) for m in client.get_metric_history(full_id, key)]
        assert sorted(got) == sorted(want), key
    # and each parameter's gradient norms (one artifact): the continued run carries its record on
    def artifact(rid, path):
        return json.load(open(client.download_artifacts(rid, path, str(tmp_path / rid))))

    assert artifact(run_id, "grad_norms/params.json")["norms"] == artifact(full_id, "grad_norms/params.json")["norms"]
    assert len(artifact(run_id, "grad_norms/params.json")["norms"]["head.W"]) == 20
    # so do the gradient views: every point from before the interruption is still there, equal
    for view in ("curves", "lag", "heatmap"):
        got, want = artifact(run_id, f"grad_norms/{view}.json"), artifact(full_id, f"grad_norms/{view}.json")
        assert got["norms"] == want["norms"] and got["count"] == want["count"], view


@pytest.mark.slow
def test_ctrl_c_saves_and_marks_the_run_killed(tmp_path):
    code, _, err, ckpt = interrupt(tmp_path, "run", signal.SIGINT)
    assert code == 128 + signal.SIGINT and "Traceback" not in err, err[-2000:]
    assert "interrupted by SIGINT" in err and "train.resume=" in err
    run_id = str(np.load(ckpt)["state/run_id"])
    assert client_for(tmp_path).get_run(run_id).info.status == "KILLED"


def test_resume_refuses_a_checkpoint_of_other_settings_or_without_state(tmp_path):
    done = seqfw(*ARGS, "train.steps=20", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt = tmp_path / "run" / "checkpoint.npz"
    other = seqfw(*ARGS, "train.steps=40", "cell=gru", f"train.resume={ckpt}", cwd=tmp_path)
    assert other.returncode == 2 and "was written by a run with other settings: cell" in other.stderr
    same_end = seqfw(*ARGS, "train.steps=20", f"train.resume={ckpt}", cwd=tmp_path)
    assert same_end.returncode == 2 and "nothing left to do; raise train.steps" in same_end.stderr
    with np.load(ckpt) as data:
        np.savez(tmp_path / "params_only.npz", **{k: data[k] for k in data.files if not k.startswith("state/")})
    bare = seqfw(*ARGS, "train.steps=40", f"train.resume={tmp_path / 'params_only.npz'}", cwd=tmp_path)
    assert bare.returncode == 2 and "no training state" in bare.stderr
    longer = seqfw(*ARGS, "train.steps=40", "hydra.run.dir=run", f"train.resume={ckpt}", cwd=tmp_path)
    assert longer.returncode == 0 and "40 steps" in longer.stdout  # train.steps may grow
    assert "Traceback" not in other.stderr + same_end.stderr + bare.stderr
