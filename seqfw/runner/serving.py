"""A finished run as an object to predict with, and as an MLflow pyfunc model.

``load_run(checkpoint or run id)`` rebuilds the task (and its vocabulary) and the model from the
checkpoint's own config. MLflow loads the logged model through ``_load_pyfunc`` (the
``loader_module`` flavour), so this module needs no MLflow import. Input: a list of strings, or
a DataFrame with a ``text`` column; output: one string per row — the tags of each token
(``ner``), the class (``sentiment``, ``agreement``), the ISO date (``dates``), or a new sample per
row for the language models (for ``name_gen`` the row is the class, ``female`` or ``male``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from ..engine.errors import SeqfwError, check_count
from .build import Setup, build
from .checkpoint import (
    HINT,
    CheckpointError,
    check_sizes,
    checkpoint_config,
    load_checkpoint,
    not_a_file,
    restore_params,
)


def checkpoint_file(source: str, tracking_uri: str | None = None, key: str = "--tracking-uri") -> Path:
    """The checkpoint file ``source`` names: a path, or an MLflow run id whose checkpoint is downloaded.

    Anything at the path that is not a regular file (a directory, a named pipe) is refused from
    its ``stat`` alone: a pipe is never opened, so it cannot block the command."""
    path = Path(source)
    if os.path.lexists(path):
        if problem := not_a_file(path):
            raise CheckpointError(f"checkpoint {source!r} {problem}; give a run's checkpoints/checkpoint.npz "
                                  "or its run id")
        return path
    if not re.fullmatch(r"[0-9a-f]{32}", source):
        raise CheckpointError(f"{source!r}: no such checkpoint file, and not an MLflow run id (32 hex digits); "
                              "give a run's checkpoints/checkpoint.npz or its run id")
    from .tracking import download_checkpoint

    return download_checkpoint(source, tracking_uri, key)


def read_run(source: str, tracking_uri: str | None = None, key: str = "--tracking-uri") -> tuple[DictConfig, dict, Path]:
    """(config, checkpoint contents, file) of a checkpoint or run id, every field checked; nothing built yet."""
    path = checkpoint_file(source, tracking_uri, key)
    ckpt = load_checkpoint(path)
    cfg = checkpoint_config(ckpt["config"], path, ckpt["sources"])
    check_sizes(cfg, ckpt["params"], path)
    return cfg, ckpt, path


def build_run(cfg: DictConfig, ckpt: dict, path: Path) -> Setup:
    """The run ``read_run`` read, built with its trained parameters in place (names and shapes checked)."""
    try:
        setup = build(cfg)
    except SeqfwError as err:  # the setting is the checkpoint's, not the user's: say so
        raise CheckpointError(f"checkpoint {path}: its config: {str(err).rstrip('.')}. {HINT}") from None
    try:
        restore_params(setup.params, ckpt["params"], setup.backend.xp)
    except CheckpointError as err:
        raise CheckpointError(f"{err}, in {path}: its config and its parameters do not belong together. "
                              f"{HINT}") from None
    return setup


def load_run(source: str, tracking_uri: str | None = None) -> tuple:
    """(cfg, setup) of a checkpoint file or an MLflow run id, with the trained parameters in place."""
    cfg, ckpt, path = read_run(source, tracking_uri)
    return cfg, build_run(cfg, ckpt, path)


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
