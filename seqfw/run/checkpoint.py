"""Checkpoints as plain ``.npz`` archives: arrays only, loaded with ``allow_pickle=False``."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..engine.backend import to_host
from ..engine.errors import SeqfwError
from ..engine.tree import flatten

FORMAT = "seqfw-checkpoint-1"


class CheckpointError(SeqfwError, ValueError):
    """A file that is not a usable seqfw checkpoint (or not for this model); the message says why."""


def save_checkpoint(path: Path, params, step: int, config: str = "", state: dict | None = None) -> Path:
    """Write every parameter under ``params/<dotted.path>`` plus the step, the config text and a format tag;
    ``state`` (``{name: array}``: optimizer moments, random-generator states...) goes under ``state/<name>``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"params/{k}": to_host(v) for k, v in flatten(params).items()}
    arrays.update({f"state/{k}": np.asarray(to_host(v)) for k, v in (state or {}).items()})
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays, step=np.array(step), config=np.array(config), format=np.array(FORMAT))
    tmp.replace(path)  # never leave a half-written checkpoint under the real name
    return path


def load_checkpoint(path: Path) -> dict:
    """``{"params": {path: array}, "step": int, "config": str, "state": {name: array}}``; refuses anything
    but a seqfw checkpoint.

    A checkpoint may come from someone else, so nothing in it is trusted: it must be a zip
    archive of ``.npy`` arrays (read with ``allow_pickle=False``: no object arrays, no code),
    carry seqfw's format tag, hold only finite floating-point parameters, an integer step and
    a text config (which is parsed as YAML data by the caller, never evaluated).
    """
    path = Path(path)
    hint = "Use a checkpoint that seqfw wrote (a run's checkpoints/checkpoint.npz, or the run id)."
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file. {hint}")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise CheckpointError(f"checkpoint {path} is not an .npz archive. {hint}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data.files or str(data["format"]) != FORMAT:
                raise CheckpointError(f"it has no {FORMAT!r} format tag")
            params = {}
            for key in (k for k in data.files if k.startswith("params/")):
                value, name = data[key], key[len("params/"):]
                if value.dtype.kind != "f":
                    raise CheckpointError(f"parameter {name} has dtype {value.dtype}; parameters are floating point")
                if not np.isfinite(value).all():
                    raise CheckpointError(f"parameter {name} holds NaN or infinite values")
                params[name] = value
            state = {}
            for key in (k for k in data.files if k.startswith("state/")):
                value, name = data[key], key[len("state/"):]
                if value.dtype.kind not in "fiuU" or value.dtype.kind == "f" and not np.isfinite(value).all():
                    raise CheckpointError(f"training state {name} is not finite numbers or text")
                state[name] = value
            step, config = data["step"], data["config"]
            if step.shape != () or step.dtype.kind not in "iu" or int(step) < 0:
                raise CheckpointError(f"its step is {step!r}, not a count")
            if config.shape != () or config.dtype.kind != "U":
                raise CheckpointError("its config is not text")
            return {"params": params, "step": int(step), "config": str(config), "state": state}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        reason = "it is truncated or corrupt" if isinstance(err, (EOFError, zipfile.BadZipFile)) else str(err)
        raise CheckpointError(f"refusing checkpoint {path}: {reason}. {hint}") from None


def restore_params(params, saved: dict, xp=np) -> None:
    """Copy ``saved`` ({dotted.path: array}) into the tree ``params`` in place, checking names and shapes."""
    target = flatten(params)
    missing, extra = sorted(target.keys() - saved.keys()), sorted(saved.keys() - target.keys())
    if missing or extra:
        raise CheckpointError(f"checkpoint does not match the model: missing {missing or 'nothing'}, "
                         f"unexpected {extra or 'nothing'}")
    for k, p in target.items():
        if tuple(saved[k].shape) != tuple(p.shape):
            raise CheckpointError(f"checkpoint parameter {k} has shape {saved[k].shape}, the model needs {p.shape}")
        p[...] = xp.asarray(saved[k], dtype=p.dtype)
