"""The one way tests run the command line: ``python -m seqfw`` in a subprocess, and its MLflow store."""
import os
import subprocess
import sys

TINY = ["train.steps=40", "train.eval_every=20", "train.log_every=10", "train.batch_size=8",
        "task.num_sentences=120", "cell.hidden_size=8", "task.embed_dim=8", "train.progress=false"]


def clean_env(env: dict | None = None) -> dict:
    """This process's environment without what would change what seqfw prints or where it stores runs
    (MLFLOW_TRACKING_URI, HYDRA_FULL_ERROR), plus ``env`` (PYTHONPATH is prepended)."""
    full = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR")}
    for key, value in (env or {}).items():
        full[key] = value + (os.pathsep + full[key] if key == "PYTHONPATH" and full.get(key) else "")
    return full


def seqfw(*args, cwd, timeout=300, env=None):
    """``python -m seqfw *args`` in ``cwd``; ``env`` adds variables (see ``clean_env``)."""
    full = clean_env(env)
    return subprocess.run([sys.executable, "-m", "seqfw", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=full)


def client_for(path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{path / 'mlflow.db'}")
