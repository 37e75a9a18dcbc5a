"""Experiment tracking: the only module that imports mlflow (lazily), plus a no-op tracker.

The runner talks to a ``Tracker``; ``make_tracker`` picks MLflow or nothing
from ``cfg.tracking``. The default store is MLflow's own default, made
absolute: ``sqlite:///<cwd>/mlflow.db`` with artifacts under ``<cwd>/mlruns``.
Step metrics are buffered and sent with ``log_batch`` (one call per point
would cost ~4 ms each on sqlite). ``open_store`` checks a store before MLflow
touches it (``seqfw.runner.store``: the URI, the SQLite file, the set-up lock) and
returns a client whose store faults raise ``TrackingError``.

What makes a run easy to browse is decided here too: ``run_link`` (every link seqfw prints: the
run's page in the UI's model-training view), the experiment's description and kind
(``ensure_experiment``), the config as params with its null settings (``flat_params``), and the
trained model as an MLflow 3 logged model of the run (``MlflowTracker.log_model``).
"""
from __future__ import annotations

import logging
import os
import shlex
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from ..engine.errors import SeqfwError
from . import store

PARENT_FILE = ".seqfw_parent_run"  # in a sweep's directory: the parent run id for the jobs
JOB_FILE = ".seqfw_job"  # in a sweep job's directory: the parent run id (the summary counts the jobs)
UI_ADDRESS = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default
NOTE_TAG = "mlflow.note.content"  # an experiment's description, as the MLflow UI shows it (Markdown)
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"  # MLflow's own tag: "Machine learning"
MODEL_NAME = "model"  # the logged model's name: runs:/<run id>/model finds it by this name
MODEL_TAGS = ("cell", "topology", "task", "backend", "seqfw_version", "seqfw.cell.dist", "seqfw.cell.dist_version",
              "seqfw.task.dist", "seqfw.task.dist_version")  # the run's tags the logged model carries too


class TrackingError(SeqfwError, RuntimeError):
    """The tracking store cannot be used; the message says how to fix it or run without it."""


def resolve_uri(uri: str | None, key: str = "tracking.uri") -> str:
    """``tracking.uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlflow.db``; SQLite paths made
    absolute, a bare ``*.db`` path read as SQLite. A URI MLflow 3 cannot track to is refused here, naming
    ``key`` (or MLFLOW_TRACKING_URI, where it came from there) and what to use instead."""
    try:
        return store.normalise(uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db",
                               uri_key(uri, key))
    except store.StoreProblem as problem:
        raise TrackingError(str(problem)) from None


def run_link(experiment_id: str, run_id: str, uri: str | None = None) -> str:
    """The address of a run's page in the MLflow UI, opened in its model-training view.

    MLflow 3's UI opens an experiment in its GenAI view (traces) unless the address says otherwise: it
    reads the view from the ``workflowType`` search parameter (``genai`` or ``machine_learning``) before
    the choice stored in the browser. The UI routes inside the URL's fragment (a hash router), so the
    parameter goes after the route, inside the fragment: ``/#/experiments/<id>/runs/<id>?workflowType=...``.
    A tracking server (``uri`` http(s)://) serves the UI itself; any other store is browsed with
    ``mlflow ui`` at its default address."""
    base = uri.rstrip("/") if uri and uri.startswith(("http://", "https://")) else UI_ADDRESS
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def flat_params(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A config (nested dicts and lists) as MLflow params: ``{dotted.key: value}``. A null setting is kept (its
    value ``None``, logged as the text ``None``), and so is an empty list or mapping: a param for every key."""
    if isinstance(tree, dict) and tree:
        items = tree.items()
    elif isinstance(tree, (list, tuple)) and tree:
        items = enumerate(tree)
    else:
        return {prefix: tree} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flat_params(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def uri_key(uri: str | None, key: str = "tracking.uri") -> str:
    """Where the store's URI came from, for messages: ``key``, or MLFLOW_TRACKING_URI when it was unset."""
    return "MLFLOW_TRACKING_URI" if not uri and os.environ.get("MLFLOW_TRACKING_URI") else key


class NoTracker:
    """``tracking=none``: every call does nothing."""

    run_id = None
    uri = None
    fresh = True
    note = None

    def log_params(self, params: dict) -> None: ...
    def log_metrics(self, metrics: dict, step: int) -> None: ...
    def log_text(self, text: str, path: str) -> None: ...
    def log_dict(self, obj: Any, path: str) -> None: ...
    def read_dict(self, path: str) -> Any: ...
    def log_figure(self, make_figure, path: str) -> None: ...
    def log_artifact(self, local_path: str, artifact_dir: str | None = None) -> None: ...
    def log_model(self, checkpoint: str, requirements: list[str], step: int = 0) -> None: ...
    def flush(self) -> None: ...
    def finish(self, status: str = "FINISHED") -> str:
        return status

    def browse_hint(self) -> str:
        return "tracking is off (tracking=none)"

    def link(self) -> str | None:
        return None


class MlflowTracker:
    """One MLflow run: params, buffered step metrics, text/JSON/figure/file artifacts."""

    def __init__(self, uri: str | None, experiment: str, run_name: str | None = None, tags: dict | None = None,
                 parent_run_id: str | None = None, resume_run_id: str | None = None, resume_step: int = 0,
                 resume_path: str | None = None, description: str | None = None):
        if resume_run_id and (path := store.sqlite_path(resolve_uri(uri))) is not None and not path.exists():
            raise TrackingError(  # refused without creating an empty store where the run is not
                f"cannot resume MLflow run {resume_run_id}: there is no MLflow store at {path}. Resume against the "
                "store the run was started with (tracking.uri / MLFLOW_TRACKING_URI), or with tracking=none.")
        self.uri, self.client = open_store(uri)
        self._metrics: list = []
        self._latest: dict = {}  # metric key -> its last point (the logged model is linked to the final ones)
        self.fresh, self.status, self.note = True, None, None  # status: the terminal one, once written
        tags = {k: str(v) for k, v in (tags or {}).items()}
        if resume_run_id:
            kept, self.note = continuation(self.client, self.uri, resume_run_id, resume_step, resume_path)
            if kept:  # continue the interrupted run: same id, same histories
                self.run_id, self.experiment_id, self.fresh = kept.info.run_id, kept.info.experiment_id, False
                self.client.update_run(self.run_id, status="RUNNING")
                if "seqfw.output_dir" in tags:  # the live process that now owns the run
                    self.client.set_tag(self.run_id, "seqfw.output_dir", tags["seqfw.output_dir"])
                return
            experiment = self.client.get_experiment(self.client.get_run(resume_run_id).info.experiment_id).name
            tags.update({"seqfw.resumed_from": resume_run_id, "seqfw.resumed_from_step": str(resume_step)})
        self.experiment_id = ensure_experiment(self.client, experiment, self.uri, description)
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
        points = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self._metrics += points
        self._latest.update((m.key, m) for m in points)
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

    def read_dict(self, path: str) -> Any:
        """The JSON artifact ``path`` of this run, read back; None where it has none (or it cannot be read)."""
        import json
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            try:  # not there (a run from before it was logged) or unreadable: the caller starts afresh
                return json.loads(Path(self.client.download_artifacts(self.run_id, path, tmp)).read_text())
            except Exception:
                return None

    def log_figure(self, make_figure, path: str) -> None:
        """``make_figure()`` builds a matplotlib ``Figure`` (no pyplot: nothing to close); it is only called
        when tracking is on."""
        self.client.log_figure(self.run_id, make_figure(), path)

    def log_artifact(self, local_path: str, artifact_dir: str | None = None) -> None:
        self.client.log_artifact(self.run_id, local_path, artifact_dir)

    def log_model(self, checkpoint: str, requirements: list[str], step: int = 0) -> None:
        """The trained model as an MLflow 3 logged model named ``model``: a pyfunc model (``seqfw.runner.serving``
        loads it) whose pip requirements are ``requirements`` (seqfw and the plugin packages of its cell and
        task), linked to this run at ``step`` with the run's metrics of that step, its params and main tags.

        It shows in the run's "Logged models" and the experiment's "Models", and loads as
        ``mlflow.pyfunc.load_model("models:/<model id>")`` or ``"runs:/<run id>/model"`` (MLflow finds a run's
        logged model by its name). Its files live with the model (``<experiment>/models/<model id>/artifacts``),
        not among the run's artifacts. Written through the client, not MLflow's fluent API: a fluent run
        would end this run (the loop owns its terminal state), and the fluent model calls put a model logged
        outside a fluent run in the default experiment and the global tracking URI's store."""
        import tempfile

        import mlflow.pyfunc
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric
        from mlflow.models import Model

        run = self.client.get_run(self.run_id)  # its params and tags, also those of a run this process continues
        model = self.client.create_logged_model(
            self.experiment_id, name=MODEL_NAME, source_run_id=self.run_id, params=dict(run.data.params),
            tags={k: v for k, v in run.data.tags.items() if k in MODEL_TAGS})
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / MODEL_NAME
                about = Model(artifact_path=model.artifact_location, model_uuid=model.model_id, run_id=self.run_id,
                              model_id=model.model_id)
                mlflow.pyfunc.save_model(str(path), loader_module="seqfw.serving", data_path=str(checkpoint),
                                         pip_requirements=requirements, mlflow_model=about)
                self.client.log_model_artifacts(model.model_id, str(path))
            self.client.log_outputs(self.run_id, [LoggedModelOutput(model.model_id, step)])
            self.flush()  # the run's points of ``step`` are stored first: the model's copies are the same points
            final = [Metric(m.key, m.value, m.timestamp, m.step, model_id=model.model_id)
                     for m in self._latest.values() if m.step == step]
            if final:
                self.client.log_batch(self.run_id, metrics=final)
            self.client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
        except BaseException:
            try:
                self.client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
            except Exception:
                pass
            raise

    def finish(self, status: str = "FINISHED") -> str:
        """Mark the run ``status`` (once: a run already ended keeps its state) and return the status the
        store holds afterwards, read back. Metrics that cannot be sent any more do not stop the write."""
        if self.status is not None:
            return self.status
        try:
            self.flush()
        except Exception as err:
            self._metrics.clear()
            print(f"warning: the last metrics of MLflow run {self.run_id} could not be logged ({type(err).__name__})",
                  file=sys.stderr)
        for attempt in range(3):  # a busy or briefly unreachable store: try again before giving up
            try:
                self.client.set_terminated(self.run_id, status)
                self.status = self.client.get_run(self.run_id).info.status
                return self.status
            except Exception as err:
                problem = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
                time.sleep(0.5 * (attempt + 1))
        return f"RUNNING (the store refused the end of the run: {problem})"

    def link(self) -> str:
        """The run's page in the MLflow UI (``run_link``)."""
        return run_link(self.experiment_id, self.run_id, self.uri)

    def browse_hint(self) -> str:
        link = self.link()
        if self.uri.startswith(("http://", "https://")):  # the server serves the UI
            return f"MLflow run {self.run_id} (experiment {self.experiment_id}); open {link}"
        return (f"MLflow run {self.run_id} (experiment {self.experiment_id}); browse with "
                f"`mlflow ui --backend-store-uri {shlex.quote(self.uri)}` then open {link}")


HTTP_DEFAULTS = {  # MLflow's own: 7 retries, back-off factor 2, 120 s: a failing server takes minutes to say so
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",  # sleeps of about 0, 2 and 4 s: a failing request ends within ~10 s
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
CLIENT_ERRORS = ("RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE")  # not store faults


def open_store(uri: str | None, key: str = "tracking.uri", write: bool = True) -> tuple[str, Any]:
    """``(uri, client)`` for the store ``uri`` names, checked before MLflow touches it, or ``TrackingError``.

    A server must answer; an SQLite file must be one, whole, unlocked (and writable, with ``write``);
    without ``write`` it must exist. A new SQLite store is created and migrated under a lock on its
    folder, so that runs started together do not migrate it at once. The client raises
    ``TrackingError`` for store faults met later (a server failing, a file damaged or locked)."""
    for noisy, level in (("alembic", logging.WARNING), ("matplotlib", logging.WARNING),
                         ("mlflow.store.db.utils", logging.CRITICAL)):  # its errors log a traceback; ours say it
        logging.getLogger(noisy).setLevel(level)
    key = uri_key(uri, key)
    uri = resolve_uri(uri, key)
    check_reachable(uri, key=key)
    # seqfw's downloads are a run's own small files (a checkpoint, a JSON record): a progress bar each says nothing
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if uri.startswith(("http://", "https://")):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)  # the user's own settings win
    path = store.sqlite_path(uri)
    if path is not None and not write and not path.exists():
        raise TrackingError(f"there is no MLflow store at {uri} (run from the directory that holds mlflow.db, or "
                            f"set {key})")
    if write:
        check_local_store(uri, key)
    try:
        with store.setup_lock(path):
            if path is not None and path.exists():
                store.check_file(path, write, key)
            client = _opened(uri, key)  # under the lock: a new store is created and migrated once
    except store.StoreProblem as problem:
        raise TrackingError(str(problem)) from None
    return uri, client


def _opened(uri: str, key: str) -> StoreGuard:
    """A guarded client of ``uri`` whose store is open (created and migrated, if new). MLflow is imported
    only here, once the checks have passed: the import alone takes seconds."""
    from mlflow.tracking import MlflowClient

    client = StoreGuard(guard(MlflowClient, uri, key)(uri), uri, key)  # the constructor opens the store
    client.search_experiments(max_results=1)  # an API call, so that a server that fails says so now
    return client


class StoreGuard:
    """An ``MlflowClient`` whose store faults raise ``TrackingError`` (one paragraph: which store, what to do)
    instead of MLflow's exceptions; a missing run or experiment and a refused value pass through as they are."""

    def __init__(self, client, uri: str, key: str = "tracking.uri"):
        self._client, self._uri, self._key = client, uri, key

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        return guard(attr, self._uri, self._key) if callable(attr) else attr


def guard(fn, uri: str, key: str = "tracking.uri"):
    """``fn`` raising ``TrackingError`` for a fault of the store ``uri`` (``key`` names it), as it was otherwise."""
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if is_store_fault(err):
                raise _store_error(uri, err, key) from err
            raise

    return call


def is_store_fault(err: Exception) -> bool:
    """The store failed (not our request): an I/O, database or HTTP error, or MLflow's word for one."""
    if isinstance(err, TrackingError):
        return False
    code = getattr(err, "error_code", None)
    if type(err).__module__.startswith("mlflow") and code is not None:
        return code not in CLIENT_ERRORS
    return isinstance(err, (OSError, sqlite3.Error)) or type(err).__module__.split(".")[0] in (
        "sqlalchemy", "requests", "urllib3", "mlflow")


def check_reachable(uri: str, timeout: float = 5.0, key: str = "tracking.uri") -> None:
    """Fail at once on a tracking server that does not answer.

    MLflow's client retries a refused connection with back-off for minutes before it gives up;
    one plain request to the server's ``/health`` tells in milliseconds. Only a failed
    connection counts: an HTTP error (a proxy in front, an older server) is left to MLflow,
    whose retries ``open_store`` bounds.
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
        where = "tracking.uri / MLFLOW_TRACKING_URI" if key == "tracking.uri" else key
        instead = (store.fallback(key) if key.startswith("--") else
                   "or run without tracking: tracking=none (or tracking.uri=sqlite:///mlflow.db for a local store)")
        raise TrackingError(
            f"cannot reach the MLflow tracking server at {uri} ({reason}). Start it (docs/team.md shows how), "
            f"or point {where} at a running one, {instead}."
        ) from None


def check_local_store(uri: str, key: str = "tracking.uri") -> None:
    """A new sqlite (or file) store must be creatable where it points: say so before MLflow tries.
    (An existing SQLite file is checked by ``store.check_file``.)"""
    if uri.startswith("sqlite:///"):
        path = store.sqlite_path(uri)
    elif uri.startswith("file://"):
        path = Path(uri[len("file://"):])
    else:
        return
    if path.exists():
        return
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        problem = "is a file, not a directory" if not parent.is_dir() else "is not writable"
        where = "tracking.uri (or MLFLOW_TRACKING_URI)" if key == "tracking.uri" else key
        raise TrackingError(
            f"cannot create the MLflow store {uri}: {parent} {problem}. Point {where} at a writable place, "
            "e.g. tracking.uri=sqlite:///$HOME/mlflow.db, or run without tracking: tracking=none.")


def _store_error(uri: str, err: Exception, key: str = "tracking.uri") -> TrackingError:
    """One paragraph for a store that failed under an MLflow call: which store, what failed, what to do."""
    if isinstance(err, TrackingError):  # already one paragraph of ours
        return err
    detail = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)[:300]
    path = store.sqlite_path(uri)
    if path is not None:
        return TrackingError(store.sqlite_message(path, detail, key))
    if uri.startswith(("http://", "https://")):
        return TrackingError(
            f"the MLflow tracking server at {uri} failed ({detail}). It is running but cannot serve the request: "
            f"its log says why (often its backend store). Fix or restart it, or point {key} at another "
            f"store, {store.fallback(key)}.")
    return TrackingError(
        f"cannot use the MLflow tracking store {uri} ({type(err).__name__}: {detail}). "
        "Check tracking.uri / MLFLOW_TRACKING_URI (is the server running? is the path writable?), "
        "or run without tracking: tracking=none."
    )


def ensure_experiment(client, name: str, uri: str, description: str | None = None) -> str:
    """The id of experiment ``name``, created if needed, tagged as a model-training experiment and described by
    ``description`` (MLflow's experiment description, its tag ``mlflow.note.content``). An existing experiment
    gets those tags only where it has none: a description or kind someone gave it stays."""
    wanted = {KIND_TAG: KIND, **({NOTE_TAG: description} if description else {})}
    try:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            try:  # MLflow's default artifact location: <cwd>/mlruns/<experiment id> for a local store
                return client.create_experiment(name, tags=wanted)
            except Exception:  # another process created it first
                exp = client.get_experiment_by_name(name)
                if exp is None:
                    raise
        for key, value in wanted.items():
            if not (exp.tags.get(key) or "").strip():
                client.set_experiment_tag(exp.experiment_id, key, value)
        return exp.experiment_id
    except TrackingError:
        raise
    except Exception as err:
        raise _store_error(uri, err) from None


def make_tracker(tracking, experiment: str, run_name: str, tags: dict, parent_run_id: str | None = None,
                 resume_run_id: str | None = None, resume_step: int = 0, resume_path: str | None = None,
                 description: str | None = None):
    """The run's tracker; ``description``: its task's, written where the experiment has none, and only to the
    task's own experiment (one named by ``tracking.experiment`` may hold runs of several tasks)."""
    if tracking.name == "none":
        return NoTracker()
    if tracking.name != "mlflow":
        raise TrackingError(f"unknown tracking {tracking.name!r}; choose tracking=mlflow or tracking=none")
    if tracking.experiment and tracking.experiment != experiment:
        description = None
    return MlflowTracker(tracking.uri, tracking.experiment or experiment, tracking.run_name or run_name, tags,
                         parent_run_id, resume_run_id, resume_step, resume_path, description)


def sweep_summary(uri: str | None, parent_run_id: str, metric: str, maximize: bool = True,
                  jobs: int = 0) -> tuple[str, list[dict]]:
    """A text table of the parent's child runs: name, status, the optimised metric; best first.
    ``jobs``: how many jobs the sweep ran; those that left no run are counted in the table."""
    _, client = open_store(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]  # a sweep over task= spans several
    children = client.search_runs(experiments, f"tags.mlflow.parentRunId = '{parent_run_id}'", max_results=50000)
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
    if jobs > len(rows):
        lines.append(f"{jobs - len(rows)} of {jobs} jobs left no run at all (the store failed under them): see "
                     "their output directories")
    return "\n".join(lines), rows


def finish_sweep(uri: str | None, parent_run_id: str, table: str, rows: list[dict], metric: str, jobs: int = 0,
                 status: str | None = None) -> str:
    """Close a sweep's parent run: the summary table, ``best/<metric>``, then ``status`` if given (a sweep
    cut short), else FAILED if any job did not finish; returns the status the store holds afterwards."""
    _, client = open_store(uri)
    try:
        client.log_text(parent_run_id, table + "\n", "sweep_summary.txt")
        best = [r for r in rows if r[metric] is not None]
        if best:
            client.log_metric(parent_run_id, f"best/{metric}", best[0][metric])
    except Exception as err:
        print(f"warning: the sweep summary could not be logged ({type(err).__name__})", file=sys.stderr)
    failed = any(r["status"] != "FINISHED" for r in rows) or jobs > len(rows)
    client.set_terminated(parent_run_id, status or ("FAILED" if failed else "FINISHED"))
    return client.get_run(parent_run_id).info.status


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


def download_checkpoint(run_id: str, tracking_uri: str | None = None, key: str = "--tracking-uri") -> Path:
    """A finished run's ``checkpoints/checkpoint.npz``, fetched from the store into a temporary folder
    (``key``: how the caller's user names the store, in messages)."""
    import tempfile

    from mlflow.exceptions import MlflowException

    uri, client = open_store(tracking_uri, key, write=False)
    try:  # a store that fails raises TrackingError (StoreGuard): said as such, not as a missing run
        return Path(client.download_artifacts(run_id, "checkpoints/checkpoint.npz", tempfile.mkdtemp(prefix="seqfw-")))
    except MlflowException as err:  # no such run, or no checkpoint in it
        raise TrackingError(f"{run_id!r} is neither a checkpoint file nor a run with a checkpoint in {uri} "
                            f"({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None


def link_of(run_id: str, tracking_uri: str | None = None) -> str | None:
    """The UI link of run ``run_id`` in the store (``run_link``), or None when the store does not have it."""
    from mlflow.exceptions import MlflowException

    uri, client = open_store(tracking_uri, "tracking_uri", write=False)
    try:
        return run_link(client.get_run(run_id).info.experiment_id, run_id, uri)
    except MlflowException:
        return None


def continuation(client, uri: str, run_id: str, step: int, checkpoint: str | None):
    """``(run, note)``: the MLflow run a resume from ``checkpoint`` (written after ``step``) may continue,
    or ``(None, why)`` when continuing it would corrupt its history, so that the resume becomes a new
    run linked to it (tags ``seqfw.resumed_from``, ``seqfw.resumed_from_step``).

    A run is continued only when it is KILLED or FAILED (or RUNNING with no live process behind it:
    it was killed with SIGKILL or crashed, and is marked KILLED first) and holds no metric past
    ``step``. A FINISHED run, or one whose history goes past the checkpoint (it ran on after the
    checkpoint was written, or a resume already continued it), is never reopened. A run still
    trained by a live process (its output directory is locked) is refused.
    """
    from .life import held_elsewhere
    from .settings import ConfigError

    try:
        run = client.get_run(run_id)
    except TrackingError:  # the store itself failed: its own message, not "not in the store"
        raise
    except Exception as err:
        raise TrackingError(
            f"cannot resume MLflow run {run_id}: it is not in {uri} ({type(err).__name__}). Resume against the "
            "store the run was started with (tracking.uri / MLFLOW_TRACKING_URI), or with tracking=none.") from None
    owner = run.data.tags.get("seqfw.output_dir")
    if run.info.status == "RUNNING":
        if owner and held_elsewhere(Path(owner)):
            raise ConfigError(
                f"train.resume={checkpoint!r}: MLflow run {run_id} is still being trained by another process "
                f"(it holds {owner}). Wait for it to stop (Ctrl-C saves it), then resume from the checkpoint it "
                "leaves; two processes never train one run.")
        if not (owner and Path(owner).is_dir()):
            return None, (f"run {run_id} is RUNNING in the store and no process here can be found behind it "
                          f"({owner or 'no output directory recorded'})")
        client.set_terminated(run_id, "KILLED")  # nobody holds its directory: the process died
    if run.info.status == "FINISHED":
        return None, f"run {run_id} is FINISHED"
    last = max((m.step for key in run.data.metrics for m in client.get_metric_history(run_id, key)), default=0)
    if last > step:
        return None, (f"run {run_id} has metrics up to step {last}, past this checkpoint's step {step} (it ran on "
                      "after this checkpoint, or was already continued)")
    return run, None


def record_failed_job(cfg, ctx, err: BaseException) -> None:
    """A sweep's job that failed before its run existed: a FAILED child run naming the error, so that
    the sweep shows every job it ran. If even that cannot be written, the sweep's summary counts it."""
    message = str(err).strip() or type(err).__name__
    try:
        run = make_tracker(cfg.tracking, str(cfg.task.name), ctx.run_name,
                           {**ctx.tags, "seqfw.error": message[:4000]}, ctx.parent_run_id)
        run.log_text(message + "\n", "error.txt")
        run.finish("FAILED")
    except Exception as store_err:
        print(f"warning: the failed job could not be recorded in MLflow ({type(store_err).__name__})", file=sys.stderr)
