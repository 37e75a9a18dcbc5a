"""Experiment tracking: the only module that imports mlflow (lazily), plus a no-op tracker.

The runner talks to a ``Tracker``; ``make_tracker`` picks MLflow or nothing
from ``cfg.tracking``. The default store is MLflow's own default, made
absolute: ``sqlite:///<cwd>/mlflow.db`` with artifacts under ``<cwd>/mlruns``.
Step metrics are buffered and sent with ``log_batch`` (one call per point
would cost ~4 ms each on sqlite).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from ..engine.errors import SeqfwError

PARENT_FILE = ".seqfw_parent_run"  # in a sweep's directory: the parent run id for the jobs


class TrackingError(SeqfwError, RuntimeError):
    """The tracking store cannot be used; the message says how to fix it or run without it."""


def resolve_uri(uri: str | None) -> str:
    """``tracking.uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlflow.db``; local paths made absolute."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    elif "://" not in uri:
        uri = Path(uri).resolve().as_uri()
    return uri


class NoTracker:
    """``tracking=none``: every call does nothing."""

    run_id = None
    uri = None

    def log_params(self, params: dict) -> None: ...
    def log_metrics(self, metrics: dict, step: int) -> None: ...
    def log_text(self, text: str, path: str) -> None: ...
    def log_dict(self, obj: Any, path: str) -> None: ...
    def log_figure(self, make_figure, path: str) -> None: ...
    def log_artifact(self, local_path: str, artifact_dir: str | None = None) -> None: ...
    def log_model(self, checkpoint: str) -> None: ...
    def flush(self) -> None: ...
    def finish(self, status: str = "FINISHED") -> None: ...

    def browse_hint(self) -> str:
        return "tracking is off (tracking=none)"


class MlflowTracker:
    """One MLflow run: params, buffered step metrics, text/JSON/figure/file artifacts."""

    def __init__(self, uri: str | None, experiment: str, run_name: str | None = None, tags: dict | None = None,
                 parent_run_id: str | None = None, resume_run_id: str | None = None):
        from mlflow.tracking import MlflowClient

        for noisy in ("alembic", "mlflow.store.db.utils", "matplotlib"):  # schema set-up and font-cache chatter
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.uri = resolve_uri(uri)
        check_reachable(self.uri)
        check_local_store(self.uri)
        self.client = MlflowClient(self.uri)
        self._metrics: list = []
        if resume_run_id:  # continue the interrupted run: same id, same histories
            try:
                run = self.client.get_run(resume_run_id)
            except Exception as err:
                raise TrackingError(
                    f"cannot resume MLflow run {resume_run_id}: it is not in {self.uri} ({type(err).__name__}). "
                    "Resume against the store the run was started with (tracking.uri / MLFLOW_TRACKING_URI), "
                    "or with tracking=none.") from None
            self.run_id, self.experiment_id = run.info.run_id, run.info.experiment_id
            self.client.update_run(self.run_id, status="RUNNING")
            return
        self.experiment_id = ensure_experiment(self.client, experiment, self.uri)
        tags = {k: str(v) for k, v in (tags or {}).items()}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        try:
            run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        except Exception as err:
            raise _store_error(self.uri, err) from None
        self.run_id = run.info.run_id

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # log_batch takes at most 100 params per call
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._metrics += [Metric(k, float(v), now, step) for k, v in metrics.items()]
        if len(self._metrics) >= 900:
            self.flush()

    def flush(self) -> None:
        while self._metrics:  # at most 1000 metrics per call
            batch, self._metrics = self._metrics[:1000], self._metrics[1000:]
            self.client.log_batch(self.run_id, metrics=batch)

    def log_text(self, text: str, path: str) -> None:
        self.client.log_text(self.run_id, text, path)

    def log_dict(self, obj: Any, path: str) -> None:
        self.client.log_dict(self.run_id, obj, path)

    def log_figure(self, make_figure, path: str) -> None:
        """``make_figure()`` builds a matplotlib figure; it is only called when tracking is on."""
        import matplotlib.pyplot as plt

        fig = make_figure()
        try:
            self.client.log_figure(self.run_id, fig, path)
        finally:
            plt.close(fig)

    def log_artifact(self, local_path: str, artifact_dir: str | None = None) -> None:
        self.client.log_artifact(self.run_id, local_path, artifact_dir)

    def log_model(self, checkpoint: str) -> None:
        """The trained model as a pyfunc model under ``model/``: ``mlflow.pyfunc.load_model("runs:/<id>/model")``."""
        import tempfile

        import mlflow.pyfunc

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model"
            mlflow.pyfunc.save_model(str(path), loader_module="seqfw.run.serving", data_path=str(checkpoint),
                                     pip_requirements=["seqfw"])
            self.client.log_artifacts(self.run_id, str(path), "model")

    def finish(self, status: str = "FINISHED") -> None:
        self.flush()
        self.client.set_terminated(self.run_id, status)

    def browse_hint(self) -> str:
        where = f"mlflow ui --backend-store-uri {self.uri}" if self.uri.startswith("sqlite") else self.uri
        return (f"MLflow run {self.run_id} (experiment {self.experiment_id}); browse with `{where}` "
                f"then open http://127.0.0.1:5000/#/experiments/{self.experiment_id}/runs/{self.run_id}")


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail at once on a tracking server that does not answer.

    MLflow's client retries a refused connection with back-off for minutes before it gives up;
    one plain request to the server's ``/health`` tells in milliseconds. Only a failed
    connection counts: an HTTP error (a proxy in front, an older server) is left to MLflow.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        pass
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise TrackingError(
            f"cannot reach the MLflow tracking server at {uri} ({reason}). Start it (docs/team.md shows how), "
            "or point tracking.uri / MLFLOW_TRACKING_URI at a running one, or run without tracking: "
            "tracking=none (or tracking.uri=sqlite:///mlflow.db for a local store)."
        ) from None


def check_local_store(uri: str) -> None:
    """A sqlite or file store must be creatable where it points: say so before MLflow tries."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
    elif uri.startswith("file://"):
        path = Path(uri[len("file://"):])
    else:
        return
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        problem = "is a file, not a directory" if not parent.is_dir() else "is not writable"
        raise TrackingError(
            f"cannot create the MLflow store {uri}: {parent} {problem}. Point tracking.uri (or "
            "MLFLOW_TRACKING_URI) at a writable place, e.g. tracking.uri=sqlite:///$HOME/mlflow.db, "
            "or run without tracking: tracking=none.")


def _store_error(uri: str, err: Exception) -> TrackingError:
    return TrackingError(
        f"cannot use the MLflow tracking store {uri} ({type(err).__name__}: {str(err).splitlines()[0][:300]}). "
        "Check tracking.uri / MLFLOW_TRACKING_URI (is the server running? is the path writable?), "
        "or run without tracking: tracking=none."
    )


def ensure_experiment(client, name: str, uri: str) -> str:
    """The id of experiment ``name``, created if needed."""
    try:
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        try:  # MLflow's default artifact location: <cwd>/mlruns/<experiment id> for a local store
            return client.create_experiment(name)
        except Exception:  # another process created it first
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id
    except TrackingError:
        raise
    except Exception as err:
        raise _store_error(uri, err) from None


def make_tracker(tracking, experiment: str, run_name: str, tags: dict, parent_run_id: str | None = None,
                 resume_run_id: str | None = None):
    if tracking.name == "none":
        return NoTracker()
    if tracking.name != "mlflow":
        raise TrackingError(f"unknown tracking {tracking.name!r}; choose tracking=mlflow or tracking=none")
    return MlflowTracker(tracking.uri, tracking.experiment or experiment, tracking.run_name or run_name, tags,
                         parent_run_id, resume_run_id)


def sweep_summary(uri: str | None, parent_run_id: str, metric: str, maximize: bool = True) -> tuple[str, list[dict]]:
    """A text table of the parent's child runs: name, status, the optimised metric; best first."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(resolve_uri(uri))
    parent = client.get_run(parent_run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'")
    rows = [{"run": r.info.run_name, "run_id": r.info.run_id, "status": r.info.status,
             metric: r.data.metrics.get(metric)} for r in children]
    sign = -1.0 if maximize else 1.0  # runs without the metric (failed) go last either way
    rows.sort(key=lambda r: sign * r[metric] if r[metric] is not None else float("inf"))
    shown, common = _distinct_overrides([r["run"] or "" for r in rows])
    width = max([len(s) for s in shown] + [3])
    lines = [f"overrides shared by every run: {' '.join(common)}"] if common else []
    lines.append(f"{'run':<{width}}  {'status':<9} {metric}")
    lines += [f"{name:<{width}}  {r['status']:<9} "
              f"{'-' if r[metric] is None else format(r[metric], '.4f')}" for name, r in zip(shown, rows)]
    return "\n".join(lines), rows


def finish_sweep(uri: str | None, parent_run_id: str, table: str, rows: list[dict], metric: str) -> None:
    """Close a sweep's parent run: the summary table, ``best/<metric>``, FAILED if any child did not finish."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(resolve_uri(uri))
    client.log_text(parent_run_id, table + "\n", "sweep_summary.txt")
    best = [r for r in rows if r[metric] is not None]
    if best:
        client.log_metric(parent_run_id, f"best/{metric}", best[0][metric])
    failed = any(r["status"] != "FINISHED" for r in rows)
    client.set_terminated(parent_run_id, "FAILED" if failed else "FINISHED")


def _distinct_overrides(names: list[str]) -> tuple[list[str], list[str]]:
    """Run names ``base [k=v ...]`` with the overrides every run shares taken out (and returned)."""
    parsed = []
    for name in names:
        base, _, rest = name.partition(" [")
        parsed.append((base, rest[:-1].split() if rest.endswith("]") else []))
    common = [o for o in parsed[0][1] if all(o in p[1] for p in parsed)] if len(parsed) > 1 else []
    shown = [base + (f" [{' '.join(k)}]" if (k := [o for o in opts if o not in common]) else "")
             for base, opts in parsed]
    return shown, common


def download_checkpoint(run_id: str, tracking_uri: str | None = None) -> Path:
    """A finished run's ``checkpoints/checkpoint.npz``, fetched from the store into a temporary folder."""
    import tempfile

    from mlflow.tracking import MlflowClient

    uri = resolve_uri(tracking_uri)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise TrackingError(f"run {run_id}: there is no MLflow store at {uri} (run from the directory that holds "
                            "mlflow.db, or set MLFLOW_TRACKING_URI / --tracking-uri)")
    check_reachable(uri)
    try:
        return Path(MlflowClient(uri).download_artifacts(run_id, "checkpoints/checkpoint.npz",
                                                          tempfile.mkdtemp(prefix="seqfw-")))
    except Exception as err:
        raise TrackingError(f"{run_id!r} is neither a checkpoint file nor a run with a checkpoint in {uri} "
                            f"({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
