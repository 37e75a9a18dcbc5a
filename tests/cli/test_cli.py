"""The command line as a user runs it: `python -m seqfw ...` in a subprocess, in a fresh directory,
with its MLflow runs read back through the MLflow client."""
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers.cli import TINY, client_for, seqfw


def test_a_run_leaves_everything_worth_browsing_in_mlflow(tmp_path):
    out = seqfw("topology=bidir", "train.grad_curves=3", *TINY, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "== seqfw summary ==" in out.stdout and "Traceback" not in out.stderr
    run_id = re.search(r"MLflow run ([0-9a-f]{32})", out.stdout).group(1)
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path}/mlflow.db" in out.stdout

    client = client_for(tmp_path)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "lstm-bidir [train.grad_curves=3 " + " ".join(TINY) + "]"
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "ner" and exp.artifact_location == str(tmp_path / "mlruns" / exp.experiment_id)
    # the printed link opens the run in the UI's model-training view (docs/mlflow.md)
    assert (f"then open http://127.0.0.1:5000/#/experiments/{exp.experiment_id}/runs/{run_id}"
            "?workflowType=machine_learning\n") in out.stdout
    note = exp.tags["mlflow.note.content"]  # the experiment's description: the task, its metrics, chance level
    assert note.startswith("**ner**: Tag every token") and "`val/entity_f1` (optimised, higher is better)" in note
    assert "Chance level: always the majority tag O" in note and "**Model training**" in note
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    p = run.data.params
    assert p["cell.name"] == "lstm" and p["topology.bidirectional"] == "True" and p["train.steps"] == "40"
    assert p["optim.lr"] == "0.005" and p["task.name"] == "ner"
    # null settings are params too
    assert p["train.bptt"] == p["train.clip_value"] == p["optimized_metric"] == p["tracking.uri"] == "None"
    t = run.data.tags
    assert (t["cell"], t["topology"], t["task"], t["backend"], t["optim"]) == ("lstm", "bidir", "ner", "numpy", "adam")
    assert t["seqfw_version"] and "topology=bidir" in t["overrides"]
    # which executor ran the elementwise math: Numba is in the test extra, so the compiled one
    assert t["seqfw.cpu_path"].startswith("compiled (Numba ") or importlib.util.find_spec("numba") is None
    assert not [k for k in t if k.startswith("choice.")]  # one tag per choice: `cell`, not also `choice.cell`

    history = lambda key: [m.step for m in client.get_metric_history(run_id, key)]  # noqa: E731
    assert history("train/loss") == [10, 20, 30, 40]
    assert history("val/entity_f1") == [20, 40] and history("val/ambiguous_accuracy") == [20, 40]
    assert history("grad_norm/global") == [10, 20, 30, 40]
    # the headline metrics only: each parameter's gradient norm is in grad_norms/params.json, not a metric
    assert sorted(run.data.metrics) == ["grad_norm/global", "throughput/tokens_per_s", "train/loss",
                                        "val/ambiguous_accuracy", "val/entity_f1", "val/token_accuracy"]
    assert len(history("throughput/tokens_per_s")) == 4
    losses = [m.value for m in client.get_metric_history(run_id, "train/loss")]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]

    art = tmp_path / "art"
    local = client.download_artifacts(run_id, "", str(art.mkdir() or art))
    files = {os.path.relpath(os.path.join(d, f), local) for d, _, fs in os.walk(local) for f in fs}
    assert {"config/resolved.yaml", "config/hydra/config.yaml", "config/hydra/overrides.yaml",
            "grad_norms/curves.json", "grad_norms/curves.png", "grad_norms/heatmap.json",
            "grad_norms/heatmap.png", "grad_norms/lag.json", "grad_norms/lag.png", "samples/step_000020.txt",
            "grad_norms/params.json", "grad_norms/params.png", "samples/step_000040.txt",
            "checkpoints/checkpoint.npz"} <= files
    params = json.load(open(os.path.join(local, "grad_norms/params.json")))  # every log_every steps, per parameter
    assert "lstm-bidir" in params["title"] and params["x"] == "training step"
    assert {"embed.W", "rnn.layers.0.fwd.W_h", "rnn.layers.0.bwd.W_h", "head.W"} <= set(params["norms"])
    assert all(set(by_step) == {"10", "20", "30", "40"} and min(by_step.values()) > 0
               for by_step in params["norms"].values())
    views = {name: json.load(open(os.path.join(local, f"grad_norms/{name}.json"))) for name in ("curves", "lag",
                                                                                              "heatmap")}
    for name, view in views.items():  # forward panel first; what it measures and for which run, said in it
        assert list(view["norms"]) == ["layer0/fwd", "layer0/bwd"] and view["view"] == name
        assert "lstm-bidir" in view["title"] and "task ner" in view["title"] and "L = Σ_t L⟨t⟩" in view["loss"]
        assert set(view["norms"]["layer0/fwd"]) == {"0", "20", "40"}  # grad_curves=3 points; heatmap: evaluations
        assert all(v > 0 for v in view["norms"]["layer0/bwd"]["40"])
        count = view["count"]["layer0/fwd"]  # sequences per point: all of the curve batch, then fewer
        assert count == sorted(count, reverse=True) and count[0] > count[-1] >= 1
        assert len(view["norms"]["layer0/fwd"]["40"]) == len(count)
    assert views["heatmap"]["norms"]["layer0/fwd"]["40"] == views["curves"]["norms"]["layer0/fwd"]["40"]
    lag = views["lag"]["norms"]["layer0/fwd"]["40"]
    assert lag[0] > lag[-1] and views["lag"]["x"].startswith("distance k")
    sample = open(os.path.join(local, "samples/step_000040.txt")).read()
    assert "token / gold / predicted" in sample and "(ambiguous)" in sample
    # the trained model: an MLflow 3 logged model of the run (its "Logged models"), at the last step, with the
    # run's metrics of that step; its files are the model's, not the run's artifacts
    (model,) = client.search_logged_models([exp.experiment_id])
    assert (model.name, model.source_run_id, str(model.status)) == ("model", run_id, "READY")
    assert [(o.model_id, o.step) for o in run.outputs.model_outputs] == [(model.model_id, 40)]
    assert {m.key: m.step for m in model.metrics}["val/entity_f1"] == 40 and model.params["train.steps"] == "40"
    assert model.tags["cell"] == "lstm" and not any(f.startswith("model/") for f in files)
    # as a pyfunc model, it loads and tags in a fresh process, by the run and by the model's id
    code = ("import mlflow.pyfunc, sys\nfor uri in sys.argv[1:]: print(mlflow.pyfunc.load_model(uri).predict("
            "['He said , Teddy bears are on sale !', 'Maria visited Paris .']))")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    pred = subprocess.run([sys.executable, "-c", code, f"runs:/{run_id}/model", f"models:/{model.model_id}"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert pred.returncode == 0, pred.stderr
    by_run, by_model = [eval(line) for line in pred.stdout.strip().splitlines()[-2:]]
    assert by_run == by_model and len(by_run) == 2 and [len(t.split()) for t in by_run] == [9, 4]
    assert set(" ".join(by_run).split()) <= {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"}
    with np.load(os.path.join(local, "checkpoints/checkpoint.npz"), allow_pickle=False) as ck:
        assert ck["params/rnn.layers.0.fwd.W_h"].shape == (8, 32) and int(ck["step"]) == 40
        assert ck["params/embed.W"].shape[1] == 8


def test_a_sweep_is_one_parent_run_with_linked_children(tmp_path):
    out = seqfw("--multirun", "cell=rnn,gru", "tracking.experiment=sweep-test", *TINY, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    parent_id = re.search(r"parent MLflow run ([0-9a-f]{32})", out.stdout).group(1)
    client = client_for(tmp_path)
    exp = client.get_experiment_by_name("sweep-test")
    children = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    assert sorted(r.data.tags["cell"] for r in children) == ["gru", "rnn"]
    assert all(r.info.status == "FINISHED" for r in children)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["seqfw.sweep"] == "parent"
    assert parent.data.metrics["best/val/entity_f1"] == max(r.data.metrics["val/entity_f1"] for r in children)
    table = client.download_artifacts(parent_id, "sweep_summary.txt", str(tmp_path))
    assert sum(line.startswith(("rnn-", "gru-")) for line in open(table)) == 2
    assert f"== sweep summary (2 jobs, 2 runs; parent MLflow run {parent_id} is FINISHED)" in out.stdout
    # the summary ends with the parent's link, in the UI's model-training view; an experiment named by
    # tracking.experiment may hold runs of several tasks, so no one task's description is written to it
    assert out.stdout.rstrip().endswith(f"http://127.0.0.1:5000/#/experiments/{exp.experiment_id}/runs/{parent_id}"
                                        "?workflowType=machine_learning")
    assert "mlflow.note.content" not in exp.tags and exp.tags["mlflow.experimentKind"] == "custom_model_development"
    # the children's lag views overlaid on the parent, each labelled by what sets it apart, in the order run
    compare = json.load(open(client.download_artifacts(parent_id, "grad_norms/lag_comparison.json", str(tmp_path))))
    assert list(compare["children"]) == ["cell=rnn", "cell=gru"] and compare["title"] == parent.info.run_name
    by_cell = {r.data.tags["cell"]: r.info.run_id for r in children}
    for label, cell in (("cell=rnn", "rnn"), ("cell=gru", "gru")):
        child = compare["children"][label]
        assert child["run_id"] == by_cell[cell]
        own = json.load(open(client.download_artifacts(by_cell[cell], "grad_norms/lag.json", str(tmp_path / cell))))
        assert child["norms"] == own["norms"]
    assert "grad_norms/lag_comparison.png" in {f.path for f in client.list_artifacts(parent_id, "grad_norms")}


def test_help_lists_groups_and_options_and_cfg_prints_the_config(tmp_path):
    out = seqfw("--help", cwd=tmp_path)
    assert re.search(r"cell\s+gru, gru_simple, (\w+, )*lstm, (\w+, )*rnn", out.stdout)  # + installed plugins
    assert re.search(r"topology\s+bidir, deep, encoder_decoder, many_to_many, many_to_one, one_to_many, one_to_one",
                     out.stdout)
    cfg = seqfw("cell=gru", "topology=deep", "--cfg", "job", cwd=tmp_path).stdout
    assert "name: gru" in cfg and "num_layers: 3" in cfg and "reset_after: false" in cfg


def test_same_config_and_seed_give_identical_metrics_samples_and_checkpoints(tmp_path):
    """Determinism on NumPy: two runs of one config and seed agree on every logged metric value,
    every sample text (char_lm samples are random draws) and every checkpoint byte of every array."""
    args = ["task=char_lm", "train.steps=30", "train.eval_every=15", "train.log_every=5", "train.batch_size=8",
            "cell.hidden_size=16", "task.num_samples=5", "train.progress=false", "topology.num_layers=2",
            "topology.dropout=0.1"]
    runs, outs = [], []
    for name in ("a", "b"):
        out = seqfw(*args, "seed=0", f"hydra.run.dir={name}", cwd=tmp_path)  # one store, two runs
        outs.append(out.stdout)
        assert out.returncode == 0, out.stderr[-2000:]
        client = client_for(tmp_path)
        run = client.get_run(re.search(r"MLflow run ([0-9a-f]{32})", out.stdout).group(1))
        history = {k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)]
                   for k in run.data.metrics if not k.startswith("throughput/")}
        samples = {p: open(client.download_artifacts(run.info.run_id, p, str(tmp_path / name))).read()
                   for p in ("samples/step_000015.txt", "samples/step_000030.txt", "grad_norms/params.json",
                             "grad_norms/lag.json")}
        with np.load(tmp_path / name / "checkpoint.npz") as ck:
            arrays = {k: ck[k] for k in ck.files if k.startswith(("params/", "state/")) and k != "state/run_id"}
        runs.append((history, samples, arrays))
    (ha, sa, ca), (hb, sb, cb) = runs
    assert len(ha) >= 6 and ha == hb  # loss, global gradient norm, validation metrics
    assert sa == sb and all("\n" in t for t in sa.values() if not t.startswith("{"))
    norms = json.loads(sa["grad_norms/params.json"])["norms"]  # every parameter's gradient norms, by its path
    assert {f"params/{k}" for k in norms} == {k for k in ca if k.startswith("params/")}
    assert ca.keys() == cb.keys() and len(ca) > 15
    for k in ca:
        np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)
    other = seqfw(*args, "seed=1", "tracking=none", cwd=tmp_path).stdout  # and the seed matters
    metrics = lambda s: re.search(r"last train/loss .*\n.*\n", s).group(0)  # noqa: E731
    assert metrics(outs[0]) == metrics(outs[1]) != metrics(other)


@pytest.mark.slow
def test_bidirectional_reads_the_future_on_the_ambiguous_tokens(tmp_path):
    """The course's Teddy claim: only the next word decides, so left-to-right stays at chance."""
    acc = {}
    for topology in ("many_to_many", "bidir"):
        out = seqfw(f"topology={topology}", "tracking=none", "train.steps=600", "train.progress=false", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        acc[topology] = float(re.search(r"val/ambiguous_accuracy (\d\.\d+)", out.stdout).group(1))
    assert acc["bidir"] >= 0.95
    assert 0.3 <= acc["many_to_many"] <= 0.7


PLUGIN = '''
from dataclasses import dataclass

import seqfw
from seqfw.cells import RNNCell


@dataclass
class ScaledRNNConfig:
    nonlinearity: str = "tanh"
    scale: float = 1.0


class ScaledRNNCell(RNNCell):
    """An RNN whose initial weights are scaled: a third-party cell with an option of its own."""

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", scale=1.0):
        super().__init__(input_size, hidden_size, nonlinearity)
        if not scale > 0:
            raise ValueError(f"ScaledRNNCell: scale must be > 0, got {scale}")
        self.scale = scale

    def init_params(self, rng, xp=None, dtype=None):
        import numpy as np

        params = super().init_params(rng, xp or np, dtype or np.float32)
        return {k: v * self.scale for k, v in params.items()}


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("scaled_rnn", ScaledRNNCell, ScaledRNNConfig)]
'''


@pytest.fixture
def plugin_env(tmp_path):
    """A third-party package, installed the way pip leaves one: a module plus a dist-info with its entry point."""
    from tests.helpers.fake_install import install_plugin

    return install_plugin(tmp_path, "seqfw-scaled", "seqfw_scaled", "scaled", PLUGIN)


def test_a_plugin_cell_is_selectable_with_its_own_validated_options(tmp_path, plugin_env):
    def run(*args):
        env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, **plugin_env}
        return subprocess.run([sys.executable, "-m", "seqfw", *args], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=300)

    shown = run("--help").stdout
    assert re.search(r"cell\s+gru, gru_simple, (\w+, )*lstm, (\w+, )*rnn, scaled_rnn", shown)
    # every cell with its own keys and defaults, the plugin's too, and the package it comes from
    assert re.search(r"^  scaled_rnn  hidden_size=64 nonlinearity=tanh scale=1\.0   \[seqfw-scaled 0\.1\]$", shown, re.M), shown
    assert re.search(r"^  lstm        hidden_size=64 peephole=false forget_bias=1\.0   \[seqfw \S+\]$", shown, re.M)
    assert re.search(r"^  rnn         hidden_size=64 nonlinearity=tanh   \[seqfw \S+\]$", shown, re.M)
    assert re.search(r"^  gru_simple  hidden_size=64   \[seqfw \S+\]$", shown, re.M)
    cfg = run("cell=scaled_rnn", "--cfg", "job").stdout
    assert "name: scaled_rnn" in cfg and "scale: 1.0" in cfg and "hidden_size: 64" in cfg
    bad_type = run("cell=scaled_rnn", "cell.scale=abc", "tracking=none")
    assert bad_type.returncode == 2 and "cell.scale must be a number, got 'abc' (cell=scaled_rnn)" in bad_type.stderr
    bad_value = run("cell=scaled_rnn", "cell.scale=-1", "tracking=none")
    assert bad_value.returncode == 2 and "error: cell=scaled_rnn refused its options (cell.scale=-1.0): ScaledRNNCell: scale must be > 0" \
        in bad_value.stderr
    assert "Traceback" not in bad_type.stderr + bad_value.stderr
    ok = run("cell=scaled_rnn", "cell.scale=0.5", "tracking=none", *TINY)
    assert ok.returncode == 0, ok.stderr
    assert "cell scaled_rnn (H=8)" in ok.stdout


@pytest.mark.slow
def test_mlflow_serves_the_trained_model(tmp_path):
    """`mlflow models serve` on 127.0.0.1 answers /invocations with one tag string per sentence."""
    import json
    import socket
    import time
    import urllib.request

    out = seqfw("tracking.experiment=serve", *TINY, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run_id = re.search(r"MLflow run ([0-9a-f]{32})", out.stdout).group(1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", f"runs:/{run_id}/model",
                               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "the model server did not come up"
                time.sleep(0.5)
        body = json.dumps({"inputs": ["He said , Teddy bears are on sale !", "Maria visited Paris ."]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
        predictions = json.load(urllib.request.urlopen(req, timeout=30))["predictions"]
        assert [len(p.split()) for p in predictions] == [9, 4]
    finally:
        server.terminate()
        server.wait(timeout=30)
