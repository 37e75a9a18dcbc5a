"""Sweeps as a user runs them (docs/sweeps.md): parallel local jobs (joblib), an Optuna search declared
as config, a cluster launcher run locally (Submitit's local executor), and the launcher presets that
move a sweep to SLURM or Ray. Real CLI in a subprocess, real MLflow store in a temp dir."""
import importlib.util
import re

import pytest
import yaml
from hydra import compose, initialize_config_dir

from seqfw.cli.schema import conf_dir, register_configs
from tests.helpers.cli import TINY, client_for, seqfw

CHAR_TINY = ["train.steps=30", "train.eval_every=15", "train.log_every=15", "train.batch_size=8",
             "task.num_samples=2", "train.progress=false"]


def children_of(client, experiment: str, stdout: str):
    parent_id = re.search(r"parent MLflow run ([0-9a-f]{32})", stdout).group(1)
    exp = client.get_experiment_by_name(experiment)
    return client.get_run(parent_id), client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")


@pytest.mark.slow
def test_eight_parallel_jobs_through_joblib_lose_nothing(tmp_path):
    """Acceptance: 8 jobs, 2 at a time in separate processes, on one fresh sqlite store: a parent,
    8 finished children, every metric history complete."""
    out = seqfw("--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "cell=rnn,gru",
                "seed=0,1,2,3", "tracking.experiment=parallel", *TINY, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    client = client_for(tmp_path)
    parent, children = children_of(client, "parallel", out.stdout)
    assert len(children) == 8 and all(r.info.status == "FINISHED" for r in children)
    assert sorted((r.data.tags["cell"], r.data.params["seed"]) for r in children) == \
        sorted((c, str(s)) for c in ("rnn", "gru") for s in range(4))
    for r in children:
        assert [m.step for m in client.get_metric_history(r.info.run_id, "train/loss")] == [10, 20, 30, 40]
        assert [m.step for m in client.get_metric_history(r.info.run_id, "val/entity_f1")] == [20, 40]
    assert parent.info.status == "FINISHED"


@pytest.mark.slow
def test_optuna_search_declared_as_config_optimises_the_returned_metric(tmp_path):
    """experiment=search: TPE proposes lr, hidden size and clipping; each trial is a child run whose
    val/bpc is the objective; Optuna's best equals the best child, and the parent logs it."""
    out = seqfw("--multirun", "experiment=search", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2",
                "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "tracking.experiment=search", *CHAR_TINY,
                cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    client = client_for(tmp_path)
    parent, children = children_of(client, "search", out.stdout)
    assert len(children) == 4 and all(r.info.status == "FINISHED" for r in children)
    bpc = {r.info.run_id: r.data.metrics["val/bpc"] for r in children}
    best = min(children, key=lambda r: bpc[r.info.run_id])
    # the trials really differ: the sampler's proposals reached the runs' configs
    lrs = {float(r.data.params["optim.lr"]) for r in children}
    assert len(lrs) == 4 and all(0.0005 <= lr <= 0.05 for lr in lrs)
    assert {r.data.params["cell.hidden_size"] for r in children} <= {"32", "64", "128"}
    results = yaml.safe_load(next(tmp_path.glob("multirun/*/*/optimization_results.yaml")).read_text())
    assert results["best_value"] == pytest.approx(bpc[best.info.run_id], rel=1e-9)
    assert float(results["best_params"]["optim.lr"]) == pytest.approx(float(best.data.params["optim.lr"]))
    assert parent.data.metrics["best/val/bpc"] == pytest.approx(bpc[best.info.run_id])
    assert parent.info.status == "FINISHED"


def test_a_search_in_the_wrong_direction_is_refused_before_anything_runs(tmp_path):
    out = seqfw("--multirun", "experiment=search", "hydra.sweeper.direction=maximize", *CHAR_TINY, cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "hydra.sweeper.direction is maximize, but the objective val/bpc is better when smaller" in out.stderr
    assert "hydra.sweeper.direction=minimize" in out.stderr
    assert not (tmp_path / "mlflow.db").exists()  # refused before the store or a parent run was made


@pytest.mark.slow
def test_submitit_launcher_runs_the_sweep_as_separate_jobs(tmp_path):
    """The cluster launcher's local executor: the same code path a SLURM sweep takes, minus sbatch."""
    out = seqfw("--multirun", "hydra/launcher=submitit_local", "cell=rnn,gru", "tracking.experiment=submitit",
                *TINY, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    client = client_for(tmp_path)
    parent, children = children_of(client, "submitit", out.stdout)
    assert sorted(r.data.tags["cell"] for r in children) == ["gru", "rnn"]
    assert all(r.info.status == "FINISHED" for r in children) and parent.info.status == "FINISHED"
    assert list(tmp_path.glob("multirun/*/*/.submitit/*/*_result.pkl"))  # submitit really ran them


def compose_hydra(overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True).hydra


def test_slurm_preset_composes_onto_the_submitit_plugin():
    launcher = compose_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"]).launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.cpus_per_task, launcher.mem_gb, launcher.timeout_min, launcher.partition) == (2, 4, 60, "gpu")


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None,
                    reason="hydra-ray-launcher (extra `ray`) is not installed: ray is too heavy for CI")
def test_ray_preset_composes_onto_the_ray_plugin():
    launcher = compose_hydra(["hydra/launcher=ray_cluster"]).launcher
    assert launcher.ray.init.address == "auto" and launcher.ray.remote.num_cpus == 2


def test_a_missing_launcher_plugin_names_the_extra_to_install(tmp_path):
    if importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None:
        pytest.skip("hydra-ray-launcher is installed here; the message is for machines without it")
    out = seqfw("--multirun", "hydra/launcher=ray_cluster", "cell=rnn,gru", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "hydra/launcher=ray_cluster (from the command line) needs the Hydra plugin hydra-ray-launcher" in out.stderr
    assert "pip install 'seqfw[ray]'" in out.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "multirun").exists()


def test_every_documented_plugin_option_is_known():
    """docs/sweeps.md and conf/hydra/launcher name options that the plugin check knows about."""
    from seqfw.cli.preflight import PLUGINS

    for preset in (conf_dir() / "hydra" / "launcher").glob("*.yaml"):
        base = yaml.safe_load(preset.read_text())["defaults"][0]
        assert ("hydra/launcher", preset.stem) in PLUGINS and ("hydra/launcher", base) in PLUGINS
