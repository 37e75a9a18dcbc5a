"""Everything a run needs to continue exactly where it stopped.

A checkpoint with training state holds, besides the parameters: every optimizer moment and
its step count, the state of the host random generator that draws the batches (so the data
position) and of the device generator that draws dropout masks, the step, the tokens seen
and the MLflow run id. Restored into a run built from the same config, the next steps are
the ones the uninterrupted run would have taken: on NumPy the final parameters and metrics
are equal bit for bit (tests/runner/test_resume.py). CuPy's generator state is not saved, so a
resumed CuPy run with dropout draws different masks from the restart on.
"""
from __future__ import annotations

import json
import re
from typing import NamedTuple

import numpy as np
from omegaconf import OmegaConf

from ..engine.backend import to_host
from .checkpoint import (
    CheckpointError,
    checkpoint_config,
    load_checkpoint,
    restore_params,
)
from .settings import ConfigError

# keys that must be equal for a resumed run to be the same run (train.steps may grow)
MUST_MATCH = ("cell", "topology", "backend", "task", "optim", "seed", "train.batch_size", "train.bptt",
              "train.clip_norm", "train.clip_value", "train.on_nonfinite")


class Start(NamedTuple):
    """Where a run starts: from scratch, or where a checkpoint left it."""

    step: int = 0
    tokens: int = 0
    run_id: str | None = None  # the MLflow run to continue


def resume_into(setup, cfg, host_rng) -> Start:
    """Load ``train.resume`` into the parameters, optimizer and generators, checked before anything is tracked."""
    path = setup.train.resume
    try:
        ck = load_checkpoint(path)
    except CheckpointError as err:
        raise ConfigError(f"train.resume: {err}") from None
    if not ck["state"]:
        raise ConfigError(f"train.resume={path!r} holds parameters only, no training state (optimizer, random "
                          "generators), so the run cannot continue exactly; start a new run instead.")
    if different := mismatches(ck["config"], cfg, path):
        raise ConfigError(f"train.resume={path!r} was written by a run with other settings: {'; '.join(different)}. "
                          "Resume with the same overrides as the interrupted run (train.steps may grow).")
    if ck["step"] >= setup.train.steps:
        raise ConfigError(f"train.resume={path!r} is at step {ck['step']}, and train.steps={setup.train.steps}: "
                          "nothing left to do; raise train.steps to train on.")
    try:
        restore_params(setup.params, ck["params"], setup.backend.xp)
        tokens, run_id = restore(ck["state"], setup.optimizer, host_rng, setup.backend)
    except CheckpointError as err:
        raise ConfigError(f"train.resume={path!r}: {err}") from None
    return Start(ck["step"], tokens, run_id if cfg.tracking.name == "mlflow" else None)


def capture(opt, host_rng, backend, step: int, tokens: int, run_id: str | None, metrics: dict | None = None) -> dict:
    """The training state as plain arrays (``save_checkpoint(..., state=...)``); ``metrics``, the last
    evaluation's, as JSON text: what ``seqfw.load`` reports for the checkpoint, never read by a resume."""
    state = {"optim.t": np.array(opt.t), "tokens": np.array(tokens), "run_id": np.array(run_id or ""),
             "rng.host": np.array(json.dumps(host_rng.bit_generator.state)),
             "metrics": np.array(json.dumps({k: float(v) for k, v in (metrics or {}).items()}))}
    device = backend.device_rng
    if isinstance(device, np.random.Generator):
        state["rng.device"] = np.array(json.dumps(device.bit_generator.state))
    for name, slots in opt.state.items():
        for slot, value in slots.items():
            state[f"optim/{name}/{slot}"] = to_host(value)
    return state


def restore(state: dict, opt, host_rng, backend) -> tuple[int, str | None]:
    """Put ``state`` back into the optimizer and generators; returns (tokens, run id).

    Every value is checked first (``checked_state``), so a bad one changes nothing."""
    good = checked_state(state, opt, host_rng, backend)
    opt.t = good.t
    for name, slots in good.slots.items():
        like = opt.params[name]
        for slot, value in slots.items():
            opt.state[name][slot] = backend.xp.asarray(value, dtype=like.dtype)
    host_rng.bit_generator.state = good.host
    if good.device is not None:
        backend.device_rng.bit_generator.state = good.device
    return good.tokens, good.run_id


# the training state a checkpoint must hold, and what each is (for the message when one is missing)
REQUIRED_STATE = {"optim.t": "the optimizer's step count", "tokens": "the count of tokens trained on",
                  "run_id": "the MLflow run id", "rng.host": "the state of the generator that draws the batches"}


class State(NamedTuple):
    """A checkpoint's training state, checked (``checked_state``)."""

    t: int
    tokens: int
    run_id: str | None
    host: dict  # the host generator's state
    device: dict | None  # the device generator's (NumPy only)
    slots: dict  # {parameter: {slot: array}}


def checked_state(state: dict, opt, host_rng, backend) -> State:
    """Every value of a checkpoint's training state, checked against this run's optimizer and generators.

    A checkpoint may be crafted: a missing key, a count that is not one, a generator state numpy
    would refuse, or an optimizer moment shaped unlike its parameter is a CheckpointError naming it."""
    for key, what in REQUIRED_STATE.items():
        if key not in state:
            raise _refused(f"its training state has no {key} ({what})")
    run_id = _state_text(state, "run_id")
    if run_id and not re.fullmatch(r"[0-9a-f]{32}", run_id):
        raise _refused(f"its training state run_id is {run_id[:40]!r}, not an MLflow run id (32 hex digits)")
    device = None
    if "rng.device" in state and isinstance(backend.device_rng, np.random.Generator):
        device = _generator_state(state, "rng.device", backend.device_rng)
    return State(_state_count(state, "optim.t"), _state_count(state, "tokens"), run_id or None,
                 _generator_state(state, "rng.host", host_rng), device, _optimizer_slots(state, opt))


def _state_count(state: dict, key: str) -> int:
    value = state[key]
    if value.shape != () or value.dtype.kind not in "iu" or int(value) < 0:
        raise _refused(f"its training state {key} is {_shown(value)}, not a count")
    return int(value)


def _state_text(state: dict, key: str) -> str:
    value = state[key]
    if value.shape != () or value.dtype.kind != "U":
        raise _refused(f"its training state {key} is {_shown(value)}, not text")
    return str(value)


def _generator_state(state: dict, key: str, rng: np.random.Generator) -> dict:
    """The JSON generator state under ``key``, tried on a fresh generator of ``rng``'s kind (never on ``rng``)."""
    kind = type(rng.bit_generator)
    try:
        value = json.loads(_state_text(state, key))
        kind().state = value  # numpy checks the state's kind, keys and ranges as it sets it
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError):
        raise _refused(f"its training state {key} is not a valid {kind.__name__} random-generator state "
                       "(it must be the JSON numpy gives as bit_generator.state)") from None
    return value


def _optimizer_slots(state: dict, opt) -> dict:
    """``{parameter: {slot: array}}`` from the ``optim/<parameter>/<slot>`` entries, each shaped like its
    parameter; every parameter must have the same slots (each step updates all of them)."""
    slots: dict[str, dict] = {}
    for key, value in state.items():
        if not key.startswith("optim/"):
            continue
        name, _, slot = key[len("optim/"):].rpartition("/")
        if not name or not slot:
            raise _refused(f"its training state has an entry {key!r}, not optim/<parameter>/<slot>")
        if name not in opt.params:
            raise _refused(f"the checkpoint's optimizer state names a parameter the model lacks: {name}")
        shape = tuple(opt.params[name].shape)
        if value.dtype.kind != "f" or tuple(value.shape) != shape:
            raise _refused(f"its optimizer state {name}/{slot} is {value.dtype} of shape {value.shape}; "
                           f"the parameter {name} is floating point of shape {shape}")
        slots.setdefault(name, {})[slot] = value
    if slots:
        want = set().union(*(set(s) for s in slots.values()))
        for name in opt.params:
            if set(slots.get(name, {})) != want:
                raise _refused(f"its optimizer state has {', '.join(sorted(slots.get(name, {}))) or 'no slots'} "
                               f"for {name}, and {', '.join(sorted(want))} for other parameters")
    return slots


def _shown(value: np.ndarray) -> str:
    """A value for a message: a scalar as itself, an array by its shape (it may be huge)."""
    return repr(value.tolist()) if value.shape == () else f"an array of shape {value.shape}"


def _refused(problem: str) -> CheckpointError:
    """``problem`` with the fix: resume from a checkpoint seqfw wrote."""
    return CheckpointError(f"{problem}. Resume from a checkpoint seqfw wrote: the interrupted run's checkpoint.npz, "
                           "whose path its stop message printed")


def mismatches(saved_yaml: str, cfg, source=None) -> list[str]:
    """The MUST_MATCH keys on which the checkpoint's config and this run's differ.

    The checkpoint's config is first checked like the command line's (``checkpoint_config``): a
    crafted one is refused naming its key, ``source`` (the file) saying which checkpoint."""
    saved = checkpoint_config(saved_yaml, source or "given as train.resume")
    out = []
    for key in MUST_MATCH:
        a, b = OmegaConf.select(saved, key, default=None), OmegaConf.select(cfg, key, default=None)
        a = OmegaConf.to_container(a) if OmegaConf.is_config(a) else a
        b = OmegaConf.to_container(b) if OmegaConf.is_config(b) else b
        if a != b:
            out.append(f"{key} (checkpoint: {a!r}, now: {b!r})")
    return out
