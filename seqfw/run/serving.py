"""A finished run as an object to predict with, and as an MLflow pyfunc model.

``load_run(checkpoint or run id)`` rebuilds the task (and its vocabulary) and the model from the
checkpoint's own config. MLflow loads the logged model through ``_load_pyfunc`` (the
``loader_module`` flavour), so this module needs no MLflow import. Input: a list of strings, or
a DataFrame with a ``text`` column; output: one string per row — the tags of each token
(``ner``), the class (``sentiment``, ``agreement``), the ISO date (``dates``), or a new sample per
row for the language models (for ``name_gen`` the row is the class, ``female`` or ``male``).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from ..engine.errors import check_count
from .build import Setup, build
from .checkpoint import CheckpointError, load_checkpoint, restore_params


def load_run(source: str, tracking_uri: str | None = None) -> tuple:
    """(cfg, setup) of a checkpoint file or an MLflow run id, with the trained parameters in place."""
    path = Path(source)
    if not path.is_file():
        if not re.fullmatch(r"[0-9a-f]{32}", source):
            raise CheckpointError(f"{source!r}: no such checkpoint file, and not an MLflow run id (32 hex digits); "
                                  "give a run's checkpoints/checkpoint.npz or its run id")
        from .tracking import download_checkpoint

        path = download_checkpoint(source, tracking_uri)
    ckpt = load_checkpoint(path)
    cfg = OmegaConf.create(ckpt["config"])
    setup: Setup = build(cfg)
    restore_params(setup.params, ckpt["params"], setup.backend.xp)
    return cfg, setup


class SeqfwPredictor:
    def __init__(self, checkpoint: str):
        _, self.setup = load_run(checkpoint)

    def predict(self, model_input, params=None) -> list[str]:
        texts = list(model_input["text"]) if hasattr(model_input, "columns") else [str(t) for t in model_input]
        seed = check_count("predict", "seed", int((params or {}).get("seed", 0)), low=0)
        s = self.setup
        return s.task.predict_texts(s.model, s.params, s.backend.xp, texts, np.random.default_rng(seed))


def _load_pyfunc(data_path: str) -> SeqfwPredictor:
    path = Path(data_path)
    return SeqfwPredictor(str(path / "checkpoint.npz" if path.is_dir() else path))
