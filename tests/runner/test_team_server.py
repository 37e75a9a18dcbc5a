"""The team set-up (docs/team.md): sweeps logging to an `mlflow server` on 127.0.0.1, read back
through the REST API alone, as a colleague's browser or script would see them.

One server stores runs in sqlite (the quick end-to-end check), the other in a real PostgreSQL
database receiving a parallel (joblib) sweep.
"""
import re
import urllib.request

import pytest

from tests.helpers.servers import mlflow_server, need_postgres, postgres, rest
from tests.helpers.cli import TINY, seqfw

pytestmark = pytest.mark.slow


def check_sweep(uri: str, stdout: str, experiment: str, expected: set[tuple[str, str]]) -> None:
    """Parent and children, their full metric histories and their artifacts, through REST."""
    parent_id = re.search(r"parent MLflow run ([0-9a-f]{32})", stdout).group(1)
    exp = rest(uri, "experiments/get-by-name", experiment_name=experiment)["experiment"]
    parent = rest(uri, "runs/get", run_id=parent_id)["run"]
    assert parent["info"]["status"] == "FINISHED" and parent["info"]["experiment_id"] == exp["experiment_id"]
    assert {t["key"]: t["value"] for t in parent["data"]["tags"]}["seqfw.sweep"] == "parent"
    assert any(m["key"] == "best/val/entity_f1" for m in parent["data"]["metrics"])
    found = rest(uri, "runs/search", {"experiment_ids": [exp["experiment_id"]], "max_results": 100,
                                      "filter": f"tags.mlflow.parentRunId = '{parent_id}'"})
    children = found.get("runs", [])
    got = {({t["key"]: t["value"] for t in r["data"]["tags"]}["cell"],
            {p["key"]: p["value"] for p in r["data"]["params"]}["seed"]) for r in children}
    assert len(children) == len(expected) and got == expected
    for run in children:
        run_id = run["info"]["run_id"]
        assert run["info"]["status"] == "FINISHED", run["info"]
        history = lambda key: sorted(m["step"] for m in rest(  # noqa: E731
            uri, "metrics/get-history", run_id=run_id, metric_key=key)["metrics"])
        assert history("train/loss") == [10, 20, 30, 40]
        assert history("grad_norm/global") == [10, 20, 30, 40]
        assert history("val/entity_f1") == [20, 40]
        top = {f["path"] for f in rest(uri, "artifacts/list", run_id=run_id)["files"]}
        assert {"checkpoints", "config", "grad_norms", "samples"} <= top
        grads = {f["path"] for f in rest(uri, "artifacts/list", run_id=run_id, path="grad_norms")["files"]}
        assert {"grad_norms/curves.png", "grad_norms/heatmap.png", "grad_norms/params.json",
                "grad_norms/params.png"} <= grads
        # the trained model: a logged model of the run, at its last step, whose files the server holds
        (output,) = run["outputs"]["model_outputs"]
        model = rest(uri, f"logged-models/{output['model_id']}")["model"]
        assert output["step"] == 40 and model["info"]["name"] == "model" and model["info"]["source_run_id"] == run_id
        assert model["info"]["status"] == "LOGGED_MODEL_READY"
        with urllib.request.urlopen(f"{uri}/get-artifact?path=config/resolved.yaml&run_uuid={run_id}") as r:
            resolved = r.read().decode()
        cell = {t["key"]: t["value"] for t in run["data"]["tags"]}["cell"]
        assert f"name: {cell}" in resolved and "steps: 40" in resolved


def test_a_sweep_against_mlflow_server_is_all_there_through_rest(tmp_path):
    """Acceptance (issue 5, item 7): server on 127.0.0.1, a parallel sweep, everything checked via REST."""
    with mlflow_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts", tmp_path / "server.log") as uri:
        # 8 jobs, 2 at a time (issue 7: eight parallel jobs against a server, every history complete)
        out = seqfw("--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "cell=rnn,gru",
                    "seed=0,1,2,3", f"tracking.uri={uri}", "tracking.experiment=team", *TINY, cwd=tmp_path, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        check_sweep(uri, out.stdout, "team", {(c, str(s)) for c in ("rnn", "gru") for s in range(4)})
    assert not (tmp_path / "mlflow.db").exists()  # nothing went to the default local store


def test_postgres_backed_server_receives_a_parallel_sweep(tmp_path):
    """Acceptance (issue 5, item 6): PostgreSQL behind `mlflow server`, 4 jobs 2 at a time via joblib
    (the 8-job acceptance sweep runs on sqlite in test_sweeps.py; the server path is the same)."""
    bindir = need_postgres()
    with postgres(bindir) as store, \
            mlflow_server(store, tmp_path / "artifacts", tmp_path / "server.log") as uri:
        out = seqfw("--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "cell=rnn,gru",
                    "seed=0,1", f"tracking.uri={uri}", "tracking.experiment=team-pg", *TINY,
                    cwd=tmp_path, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        check_sweep(uri, out.stdout, "team-pg", {(c, str(s)) for c in ("rnn", "gru") for s in range(2)})
        # and the runs really live in PostgreSQL: 4 children + the parent, 4 losses each child
        import psycopg

        with psycopg.connect(store) as db:
            runs = db.execute("SELECT count(*) FROM runs JOIN experiments USING (experiment_id) "
                              "WHERE experiments.name = 'team-pg'").fetchone()[0]
            losses = db.execute("SELECT count(*) FROM metrics WHERE key = 'train/loss'").fetchone()[0]
        assert (runs, losses) == (5, 16)
