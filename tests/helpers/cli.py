"""The one way tests run the command line: ``python -m seqfw`` in a subprocess, and its MLflow store."""
import os
import subprocess
import sys

TINY = ["train.steps=40", "train.eval_every=20", "train.log_every=10", "train.batch_size=8",
        "task.num_sentences=120", "cell.hidden_size=8", "task.embed_dim=8", "train.progress=false"]


def seqfw(*args, cwd, timeout=300, env=None):
    """``python -m seqfw *args`` in ``cwd``; ``env`` adds variables (PYTHONPATH is prepended)."""
    full = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    for key, value in (env or {}).items():
        full[key] = value + (os.pathsep + full[key] if key == "PYTHONPATH" and full.get(key) else "")
    return subprocess.run([sys.executable, "-m", "seqfw", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=full)


def client_for(path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{path / 'mlflow.db'}")
