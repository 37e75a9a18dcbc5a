"""What a test checks after a command: the message it printed and the state it left in the MLflow store."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def assert_refused(out, *texts: str, max_lines: int = 6, code: int | None = 2) -> str:
    """A refusal: a non-zero exit (``code`` if given), no traceback, one short paragraph holding ``texts``."""
    message = out.stderr.strip()
    assert out.returncode != 0, out.stdout[-1500:] + out.stderr[-1500:]
    if code is not None:
        assert out.returncode == code, (out.returncode, message[-3000:])
    assert "Traceback" not in out.stderr + out.stdout, message[-3000:]
    for text in texts:
        assert text in message, message[-3000:]
    assert len(message.splitlines()) <= max_lines, message
    return message


def runs(directory: Path, db: str = "mlflow.db") -> list[dict]:
    """Every run in ``directory/db`` (read with sqlite3, not MLflow, so a broken store cannot hide anything):
    ``{"run_id", "name", "status", "tags", "params", "steps": {metric: [steps]}}``; [] when there is no store."""
    path = Path(directory) / db
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = []
        for run_id, name, status in con.execute("SELECT run_uuid, name, status FROM runs ORDER BY start_time"):
            tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))
            params = dict(con.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)))
            steps: dict[str, list[int]] = {}
            for key, step in con.execute("SELECT key, step FROM metrics WHERE run_uuid = ? ORDER BY step, timestamp",
                                         (run_id,)):
                steps.setdefault(key, []).append(step)
            out.append({"run_id": run_id, "name": name, "status": status, "tags": tags, "params": params,
                        "steps": steps})
        return out
    finally:
        con.close()


def assert_all_terminal(directory: Path, db: str = "mlflow.db") -> list[dict]:
    """No run is left RUNNING (or SCHEDULED); returns the runs."""
    found = runs(directory, db)
    assert all(r["status"] in ("FINISHED", "FAILED", "KILLED") for r in found), [(r["name"], r["status"]) for r in found]
    return found


def assert_no_duplicate_steps(run: dict) -> None:
    """Each metric has at most one point per step: no two continuations interleaved into one history."""
    for key, steps in run["steps"].items():
        assert len(steps) == len(set(steps)), (key, steps)


def artifacts(directory: Path, run_id: str, db: str = "mlflow.db") -> Path:
    """The local folder holding the artifacts of run ``run_id`` in ``directory/db`` (a local store's)."""
    con = sqlite3.connect(f"file:{Path(directory) / db}?mode=ro", uri=True)
    try:
        (uri,) = con.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
    finally:
        con.close()
    return Path(uri.removeprefix("file://"))


def model_files(directory: Path, run_id: str, db: str = "mlflow.db") -> Path:
    """The local folder holding the files of run ``run_id``'s logged model (``MLmodel``, ``requirements.txt``,
    ...), named ``model``, in ``directory/db`` (a local store's): an MLflow 3 model's files are its own, kept
    under ``<experiment>/models/<model id>/artifacts``, not among the run's artifacts."""
    con = sqlite3.connect(f"file:{Path(directory) / db}?mode=ro", uri=True)
    try:
        (uri,) = con.execute("SELECT artifact_location FROM logged_models WHERE source_run_id = ? AND name = 'model'",
                             (run_id,)).fetchone()
    finally:
        con.close()
    return Path(uri.removeprefix("file://"))


def seed_store(directory: Path, db: str = "mlflow.db") -> Path:
    """Copy an empty MLflow store (created once per MLflow version by MLflow itself) to ``directory/db``.

    Creating a store runs MLflow's schema migrations, seconds of CPU per test; tests whose point is
    not the creation of a store start from this copy, which is byte for byte what MLflow creates.
    Tests of store creation itself (tests/reliability/test_concurrency.py) do not use it."""
    import os
    import shutil
    import tempfile

    import mlflow
    from mlflow.tracking import MlflowClient

    template = Path(tempfile.gettempdir()) / f"seqfw-tests-empty-store-mlflow-{mlflow.__version__}.db"
    if not template.exists():
        fd, tmp = tempfile.mkstemp(suffix=".db", dir=template.parent)
        os.close(fd)
        os.unlink(tmp)
        MlflowClient(f"sqlite:///{tmp}").search_experiments()  # creates the schema
        os.replace(tmp, template)  # atomic: a concurrent test sees the whole file or none
    target = Path(directory) / db
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return target
