"""The trained model as an MLflow pyfunc model: ``mlflow.pyfunc.load_model("runs:/<id>/model").predict(...)``.

MLflow loads it through ``_load_pyfunc`` (the ``loader_module`` flavour), so this module
needs no MLflow import. Input: a list of strings, or a DataFrame with a ``text`` column;
output: one string per row — the tags of each token (``ner``), the class (``sentiment``,
``agreement``), the ISO date (``dates``), or a new sample per row for the language models
(for ``name_gen`` the row is the class, ``female`` or ``male``).
"""
from __future__ import annotations

import numpy as np


class SeqfwPredictor:
    def __init__(self, checkpoint: str):
        from .sample import load_run

        self.cfg, self.task, self.model, self.params, self.backend = load_run(checkpoint)

    def predict(self, model_input, params=None) -> list[str]:
        texts = list(model_input["text"]) if hasattr(model_input, "columns") else [str(t) for t in model_input]
        seed = int((params or {}).get("seed", 0))
        return self.task.predict_texts(self.model, self.params, self.backend.xp, texts, np.random.default_rng(seed))


def _load_pyfunc(data_path: str) -> SeqfwPredictor:
    from pathlib import Path

    path = Path(data_path)
    return SeqfwPredictor(str(path / "checkpoint.npz" if path.is_dir() else path))
