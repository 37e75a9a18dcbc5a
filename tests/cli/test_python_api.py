"""Experiments from Python: ``seqfw.run([...])`` in this process, against ``python -m seqfw`` in a subprocess,
both read back from real MLflow stores; ``seqfw.load`` of the run id and of the checkpoint."""
import io
import os
import signal
import sys
import threading

import numpy as np
import pytest

import seqfw
from seqfw.engine.tree import flatten
from seqfw.runner.life import held_directories
from tests.helpers.cli import TINY, client_for, seqfw as seqfw_cli

LM = ["task=char_lm", "cell=gru", "train.steps=30", "train.eval_every=15", "train.batch_size=8",
      "cell.hidden_size=16", "train.progress=false"]
VARYING_TAGS = {"seqfw.output_dir", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit",
                "mlflow.user"}  # where and by what each was started


def artifacts(client, run_id, path=None) -> list[str]:
    found = []
    for f in client.list_artifacts(run_id, path):
        found += artifacts(client, run_id, f.path) if f.is_dir else [f.path]
    return sorted(found)


def only_run(client):
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return run


def test_seqfw_run_from_python_makes_the_same_mlflow_run_as_the_command_line(tmp_path, monkeypatch):
    args = ["cell=gru", "topology=bidir", *TINY]
    (tmp_path / "cli").mkdir(), (tmp_path / "py").mkdir()
    out = seqfw_cli(*args, cwd=tmp_path / "cli")
    assert out.returncode == 0, out.stderr
    monkeypatch.chdir(tmp_path / "py")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = signal.getsignal(signal.SIGINT)

    trained = seqfw.run(args)

    assert signal.getsignal(signal.SIGINT) is before  # the notebook's Ctrl-C is its own again
    cli_client, py_client = client_for(tmp_path / "cli"), client_for(tmp_path / "py")
    a, b = only_run(cli_client), only_run(py_client)
    assert b.info.status == "FINISHED" and trained.run_id == b.info.run_id
    assert trained.link.endswith(f"/runs/{b.info.run_id}?workflowType=machine_learning")
    assert b.info.run_name == a.info.run_name == "gru-bidir [" + " ".join(TINY) + "]"
    assert b.data.params == a.data.params and len(a.data.params) > 30
    tags = {k: v for k, v in a.data.tags.items() if k not in VARYING_TAGS}
    assert {k: v for k, v in b.data.tags.items() if k not in VARYING_TAGS} == tags
    assert tags["overrides"] == " ".join(args) and tags["cell"] == "gru"
    assert b.data.metrics.keys() == a.data.metrics.keys()
    for key, value in a.data.metrics.items():  # the same seed: the same numbers (throughput aside)
        if not key.startswith("throughput/"):
            assert b.data.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert trained.metrics == {k: v for k, v in b.data.metrics.items() if k.startswith("val/")}
    assert "val/entity_f1" in trained.metrics
    files = artifacts(cli_client, a.info.run_id)
    assert artifacts(py_client, b.info.run_id) == files
    assert {"config/hydra/config.yaml", "config/hydra/hydra.yaml", "config/hydra/overrides.yaml",
            "config/resolved.yaml", "checkpoints/checkpoint.npz", "grad_norms/lag.json"} <= set(files)
    for name in ("config/hydra/config.yaml", "config/hydra/overrides.yaml", "config/resolved.yaml"):
        texts = [open(c.download_artifacts(r.info.run_id, name, str(tmp_path / side))).read()
                 for c, r, side in ((cli_client, a, "dl-cli"), (py_client, b, "dl-py"))]
        assert texts[0] == texts[1], name
    for client, run in ((cli_client, a), (py_client, b)):
        (model,) = client.search_logged_models([run.info.experiment_id])
        assert model.source_run_id == run.info.run_id and model.status == "READY"
    # the trained model answers as the logged one would
    assert trained.predict(["John lives in Paris ."]) == seqfw.load(trained.run_id).predict(["John lives in Paris ."])


def test_a_trained_language_model_samples_scores_and_loads_back_the_same(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    trained = seqfw.run(LM)
    assert set(trained.metrics) >= {"val/bpc", "val/perplexity"} and trained.steps == 30
    samples = trained.sample(4, seed=3)
    assert len(samples) == 4 and samples == trained.sample(4, seed=3) != trained.sample(4, seed=4)
    assert trained.sample(2, temperature=0) == trained.sample(2, temperature=0, seed=9)  # greedy: no draws
    score = trained.score("Anna")
    assert score.logp < 0 and score.logp == pytest.approx(sum(lp for _, lp in score.tokens))
    assert "val/perplexity" in repr(trained) and trained.run_id in repr(trained)

    for source in (trained.run_id, trained.checkpoint, str(trained.checkpoint)):
        back = seqfw.load(source)
        assert back.run_id == trained.run_id and back.metrics == trained.metrics and back.steps == 30
        assert back.link == (trained.link if source == trained.run_id else None)  # a file alone: no store asked
        assert back.checkpoint.name == "checkpoint.npz"
        mine, theirs = flatten(trained.params), flatten(back.params)
        assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)
        assert back.sample(4, seed=3) == samples and back.score("Anna").logp == score.logp

    with pytest.raises(seqfw.SeqfwError, match="n must be >= 1, got 0"):
        trained.sample(0)
    with pytest.raises(seqfw.SeqfwError, match="temperature must be a finite number >= 0"):
        trained.sample(2, temperature=-1.0)
    assert trained.predict([]) == [] and len(trained.predict(["", ""])) == 2


def test_what_seqfw_run_refuses_it_refuses_before_anything_is_made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cli = seqfw_cli("cell=lstn", cwd=tmp_path)
    assert cli.returncode == 2
    with pytest.raises(seqfw.SeqfwError) as err:
        seqfw.run(["cell=lstn"])
    assert cli.stderr.strip() == f"error: {err.value}"  # the command line's paragraph, word for word
    assert "did you mean" in str(err.value) and "lstm" in str(err.value)
    refused = {
        "cell=gru": "takes a list of overrides",
        ("--multirun", "cell=gru"): "not the flag '--multirun'",
        ("cell=gru,lstm",): "cell=gru,lstm is a sweep (several values), and seqfw.run trains one run",
        (3,): "overrides as strings",
        ("train.stpes=3",): "did you mean train.steps",
        ("hydra/launcher=joblib",): "a sweeper or launcher runs sweeps",
        ("experiment=gru_vs_lstm",): "this config is a sweep over cell (hydra.sweeper.params, set by gru_vs_lstm)",
    }
    for overrides, message in refused.items():
        with pytest.raises(seqfw.SeqfwError, match=message.replace("(", r"\(").replace(")", r"\)")):
            seqfw.run(overrides if isinstance(overrides, str) else list(overrides))
    assert not list(tmp_path.glob("outputs/*/*")), "a refused start leaves no output directory"
    with pytest.raises(seqfw.SeqfwError, match=r"optim.lr must be a number > 0.0, got -1"):  # refused by the build
        seqfw.run(["optim.lr=-1"])
    assert not (tmp_path / "mlflow.db").exists(), "no run was created"
    trained = seqfw.run(["train.steps=2", "train.eval_every=1", "tracking=none", *TINY[3:]])
    assert trained.run_id is None and trained.link is None and "not tracked" in repr(trained)
    with pytest.raises(seqfw.SeqfwError, match="task=ner is not a language model, so it cannot sample"):
        trained.sample(2)



class Watch(io.StringIO):
    """stderr that says when a line appears (the run's pause point)."""

    def __init__(self, text: str):
        super().__init__()
        self.text, self.seen = text, threading.Event()

    def write(self, s):
        if self.text in s:
            self.seen.set()
        return super().write(s)


def ctrl_c_at(phase: str, tmp_path, monkeypatch) -> None:
    """The next run in ``tmp_path`` pauses at ``phase`` (``SEQFW_TEST_PAUSE_AT``) and gets SIGINT there,
    from a thread, as a notebook's interrupt button sends it to the kernel."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SEQFW_TEST_PAUSE_AT", phase)
    watch = Watch(f"seqfw: paused at {phase}")
    monkeypatch.setattr(sys, "stderr", watch)

    def interrupt():
        if watch.seen.wait(120):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()


def test_ctrl_c_in_a_notebook_saves_the_step_marks_the_run_killed_and_resume_continues_it(tmp_path, monkeypatch):
    before, held = signal.getsignal(signal.SIGINT), held_directories()  # other tests' in this worker: theirs
    ctrl_c_at("loop", tmp_path, monkeypatch)  # after the first step
    with pytest.raises(KeyboardInterrupt) as stop:
        seqfw.run(LM)
    message = str(stop.value)
    assert message.startswith("interrupted by SIGINT; the MLflow run ") and " is KILLED. The state after step 1 " in message
    assert signal.getsignal(signal.SIGINT) is before
    run_id, checkpoint = message.split("MLflow run ")[1].split()[0], message.split("train.resume=")[1]
    assert client_for(tmp_path).get_run(run_id).info.status == "KILLED"

    monkeypatch.delenv("SEQFW_TEST_PAUSE_AT")
    resumed = seqfw.run([*LM, f"train.resume={checkpoint}"])
    assert resumed.run_id == run_id and resumed.steps == 30
    assert client_for(tmp_path).get_run(run_id).info.status == "FINISHED"
    outputs = {d.resolve() for d in (tmp_path / "outputs").glob("*/*")}  # both runs' directories
    assert len(outputs) == 2 and not outputs & held_directories(), "a finished seqfw.run holds no directory"
    assert held_directories() == held


def test_ctrl_c_while_a_finished_run_is_stored_is_said_once_and_never_stops_the_next_run(tmp_path, monkeypatch):
    ctrl_c_at("finish", tmp_path, monkeypatch)  # inside the terminal write, where a signal is only counted
    with pytest.raises(KeyboardInterrupt) as stop:
        seqfw.run(LM)
    message = str(stop.value)
    assert message.startswith("interrupted by SIGINT after the last step: the MLflow run ") and "FINISHED" in message
    run_id = message.split("MLflow run ")[1].split()[0]
    assert client_for(tmp_path).get_run(run_id).info.status == "FINISHED"
    assert seqfw.load(run_id).steps == 30  # nothing was lost
    monkeypatch.delenv("SEQFW_TEST_PAUSE_AT")
    assert seqfw.run([*LM, "train.steps=2"]).steps == 2  # the next run is not stopped by the old signal
