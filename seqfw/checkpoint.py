"""Checkpoints as plain ``.npz`` archives: arrays only, loaded with ``allow_pickle=False``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .backend import to_host
from .tree import flatten

FORMAT = "seqfw-checkpoint-1"


def save_checkpoint(path: Path, params, step: int, config: str = "") -> Path:
    """Write every parameter under ``params/<dotted.path>`` plus the step, the config text and a format tag."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"params/{k}": to_host(v) for k, v in flatten(params).items()}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays, step=np.array(step), config=np.array(config), format=np.array(FORMAT))
    tmp.replace(path)  # never leave a half-written checkpoint under the real name
    return path


def load_checkpoint(path: Path) -> dict:
    """``{"params": {dotted.path: array}, "step": int, "config": str}``; refuses anything but a seqfw checkpoint."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            if "format" not in data.files or str(data["format"]) != FORMAT:
                raise ValueError(f"{path} is not a seqfw checkpoint (no {FORMAT!r} format tag)")
            return {"params": {k[len("params/"):]: data[k] for k in data.files if k.startswith("params/")},
                    "step": int(data["step"]), "config": str(data["config"])}
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from None


def restore_params(params, saved: dict, xp=np) -> None:
    """Copy ``saved`` ({dotted.path: array}) into the tree ``params`` in place, checking names and shapes."""
    target = flatten(params)
    missing, extra = sorted(target.keys() - saved.keys()), sorted(saved.keys() - target.keys())
    if missing or extra:
        raise ValueError(f"checkpoint does not match the model: missing {missing or 'nothing'}, "
                         f"unexpected {extra or 'nothing'}")
    for k, p in target.items():
        if tuple(saved[k].shape) != tuple(p.shape):
            raise ValueError(f"checkpoint parameter {k} has shape {saved[k].shape}, the model needs {p.shape}")
        p[...] = xp.asarray(saved[k], dtype=p.dtype)
