"""What makes a run easy to browse in the MLflow UI, checked against a real SQLite store (no CLI; the CLI
runs of tests/cli/test_cli.py check the same things end to end): the printed link's view, the experiment's
description and kind, null settings as params, the model logged as an MLflow 3 model without ending the
run, and each parameter's gradient norms as one artifact and figure instead of metrics."""
from __future__ import annotations

import json
import math

import pytest

from seqfw.plugins.registry import task_registry
from seqfw.runner.notes import experiment_note
from seqfw.runner.param_norms import FIGURE, JSON, ParamNorms, params_figure
from seqfw.runner.tracking import MlflowTracker, ensure_experiment, flat_params, open_store, run_link
from seqfw.tasks import Task
from seqfw.tasks.base import TaskInfo
from tests.helpers.store import seed_store

BUILT_IN = sorted(n for n, spec in task_registry().items() if spec.cls.__module__.startswith("seqfw.tasks."))
NOTE, KIND = "mlflow.note.content", "mlflow.experimentKind"


def test_the_link_opens_the_run_in_the_model_training_view():
    """MLflow 3.17's UI reads ``workflowType`` from the search part of its hash route (a hash router's
    ``useSearchParams``); without it an experiment opens in the GenAI view. A server serves its own UI."""
    assert run_link("3", "abc") == "http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning"
    assert run_link("3", "abc", "sqlite:////tmp/mlflow.db").startswith("http://127.0.0.1:5000/#/")
    assert run_link("3", "abc", "http://mlflow.team:8080/") == \
        "http://mlflow.team:8080/#/experiments/3/runs/abc?workflowType=machine_learning"


def test_null_settings_and_empty_lists_are_params():
    cfg = {"train": {"bptt": None, "steps": 40}, "optimized_metric": None, "tags": [], "layers": [8, {"x": None}]}
    assert flat_params(cfg) == {"train.bptt": None, "train.steps": 40, "optimized_metric": None, "tags": [],
                                "layers.0": 8, "layers.1.x": None}


def test_an_experiment_is_described_and_tagged_once_and_a_users_description_stays(tmp_path):
    seed_store(tmp_path)
    uri, client = open_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    new = ensure_experiment(client, "fresh", uri, "**fresh**: described")
    assert client.get_experiment(new).tags == {NOTE: "**fresh**: described", KIND: "custom_model_development"}
    bare = client.create_experiment("bare")  # made elsewhere, without a description: it gets one
    assert ensure_experiment(client, "bare", uri, "**bare**: described") == bare
    assert client.get_experiment(bare).tags[NOTE] == "**bare**: described"
    own = client.create_experiment("own", tags={NOTE: "my notes", KIND: "genai_development"})  # a user's: kept
    assert ensure_experiment(client, "own", uri, "**own**: described") == own
    assert {k: client.get_experiment(own).tags[k] for k in (NOTE, KIND)} == {NOTE: "my notes",
                                                                              KIND: "genai_development"}
    assert ensure_experiment(client, "fresh", uri, "**fresh**: another") == new  # not overwritten either
    assert client.get_experiment(new).tags[NOTE] == "**fresh**: described"


def test_only_the_tasks_own_experiment_gets_its_description(tmp_path):
    """An experiment named by tracking.experiment may hold runs of several tasks: no one task's description."""
    from omegaconf import OmegaConf

    from seqfw.runner.tracking import make_tracker

    seed_store(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for experiment in (None, "shared"):
        tracking = OmegaConf.create({"name": "mlflow", "uri": uri, "experiment": experiment, "run_name": None})
        run = make_tracker(tracking, "ner", "lstm-many_to_many", {}, description="**ner**: described")
        run.finish()
    _, client = open_store(uri)
    assert client.get_experiment_by_name("ner").tags[NOTE] == "**ner**: described"
    shared = client.get_experiment_by_name("shared").tags
    assert NOTE not in shared and shared[KIND] == "custom_model_development"


def test_the_built_in_tasks_are_read_from_the_registry():
    assert {"ner", "dates", "dna", "minimal_pairs"} <= set(BUILT_IN) and len(BUILT_IN) >= 10


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_task_describes_itself_its_metrics_and_chance(name):
    cls = task_registry()[name].cls
    info = cls.info
    assert info.summary.endswith(".") and info.chance and info.metric in info.metrics
    note = experiment_note(cls)
    assert note.startswith(f"**{name}**: {info.summary}") and f"Chance level: {info.chance}." in note
    assert all(f"`{m}`" in note for m in info.metrics)
    direction = "higher" if info.maximize else "lower"
    assert f"`{info.metric}` (optimised, {direction} is better)" in note


class PluginTask(Task):
    """Count the vowels of a word, one step at a time.

    A plugin's task that declares no summary and no chance level."""

    name = "vowels"
    info = TaskInfo(topologies=("many_to_one",), bidirectional=True, metric="val/mae", maximize=False,
                    metrics=("val/mae", "val/exact"))


def test_a_plugin_task_is_described_by_its_docstring_and_metrics():
    note = experiment_note(PluginTask)
    assert note.startswith("**vowels**: Count the vowels of a word, one step at a time.\n")
    assert "`val/mae` (optimised, lower is better), `val/exact`" in note
    assert "Chance level: not stated by the task" in note
    undeclared = type("Bare", (Task,), {"name": "bare", "__module__": __name__,
                                        "info": TaskInfo(("many_to_one",), True, "val/acc")})
    note = experiment_note(undeclared)  # no docstring of its own: its module's first line; no metrics declared
    assert note.startswith("**bare**: What makes a run easy to browse in the MLflow UI")
    assert "`val/acc` (optimised, higher is better), and what its `evaluate()` reports" in note


def test_the_model_is_a_logged_model_of_the_run_which_stays_running(tmp_path):
    """``log_model`` makes an MLflow 3 logged model linked to the run at its step, with the run's metrics of
    that step, and leaves the run RUNNING: its terminal state is written by ``finish`` alone."""
    seed_store(tmp_path)
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "models", "a run", {"cell": "gru", "x": "y"})
    tracker.log_params({"train.steps": 3, "train.bptt": None})
    tracker.log_metrics({"train/loss": 2.0}, 2)
    tracker.log_metrics({"train/loss": 1.5, "val/acc": 0.75}, 3)
    checkpoint = tmp_path / "checkpoint.npz"
    checkpoint.write_bytes(b"not read when the model is saved")
    tracker.log_model(str(checkpoint), ["seqfw==0.1.0"], step=3)
    client, run_id = tracker.client, tracker.run_id
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING"
    (model,) = client.search_logged_models([tracker.experiment_id])
    assert (model.name, model.source_run_id, model.status) == ("model", run_id, "READY")
    assert [(o.model_id, o.step) for o in run.outputs.model_outputs] == [(model.model_id, 3)]
    assert sorted((m.key, m.step, m.value) for m in model.metrics) == [("train/loss", 3, 1.5), ("val/acc", 3, 0.75)]
    assert model.params == {"train.steps": "3", "train.bptt": "None"} and model.tags["cell"] == "gru"
    assert "x" not in model.tags
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train/loss")] == [(2, 2.0), (3, 1.5)]
    files = {f.path for f in client.list_logged_model_artifacts(model.model_id)}
    assert {"MLmodel", "requirements.txt", "data"} <= files
    assert not client.list_artifacts(run_id)  # the model's files are its own, not the run's
    assert tracker.finish() == "FINISHED"


def test_parameter_norms_are_one_artifact_logged_when_asked_and_carried_on_by_a_continued_run(tmp_path):
    seed_store(tmp_path)
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "norms", "a run")
    norms = ParamNorms(tracker, "lstm-bidir · task ner")
    for step in (10, 20, 30):
        norms.add(step, {"embed.W": 0.1 * step, "head.b": 0.0})
        if step == 20:
            norms.log()  # an evaluation: one upload of everything so far
    logged = json.load(open(tracker.client.download_artifacts(tracker.run_id, JSON, str(tmp_path))))
    assert logged["norms"] == {"embed.W": {"10": 1.0, "20": 2.0}, "head.b": {"10": 0.0, "20": 0.0}}
    assert logged["title"] == "lstm-bidir · task ner" and logged["x"] == "training step"
    norms.log(draw=True)  # the end: the rest, and the figure
    assert {f.path for f in tracker.client.list_artifacts(tracker.run_id, "grad_norms")} == {JSON, FIGURE}
    assert not tracker.client.get_run(tracker.run_id).data.metrics  # none of it is a metric
    tracker.fresh = False  # as a continued run (train.resume) from the checkpoint after step 20 finds it
    carried = ParamNorms(tracker, "lstm-bidir · task ner", start_step=20)
    assert carried.record["norms"] == {"embed.W": {"10": 1.0, "20": 2.0}, "head.b": {"10": 0.0, "20": 0.0}}


def test_the_parameter_figure_has_a_log_panel_per_parameter_titled_with_the_run():
    names = ["embed.W", "rnn.layers.0.fwd.W_x", "rnn.layers.0.fwd.W_h", "rnn.layers.0.fwd.b", "head.W", "head.b"]
    record = {"title": "lstm-bidir · cell lstm (H=8) · task ner", "x": "training step", "y": "‖∂L/∂θ‖",
              "norms": {n: {"10": 1.0, "20": 0.0 if n == "head.b" else 0.5} for n in names}}
    fig = params_figure(record)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    titles = names[:-1] + ["head.b, 0 from training step = 20"]  # an exact 0 is said, not drawn at a fake floor
    assert [ax.get_title() for ax in shown] == titles and {ax.get_yscale() for ax in shown} == {"log"}
    assert list(shown[-1].get_lines()[0].get_ydata()[:1]) == [1.0] and math.isnan(shown[-1].get_lines()[0].get_ydata()[1])
    assert "task ner" in fig._suptitle.get_text() and len(fig.axes) == 8  # 2 rows of 4, the last 2 hidden
