"""Everything a run needs to continue exactly where it stopped, and the signals that stop it cleanly.

A checkpoint with training state holds, besides the parameters: every optimizer moment and
its step count, the state of the host random generator that draws the batches (so the data
position) and of the device generator that draws dropout masks, the step, the tokens seen
and the MLflow run id. Restored into a run built from the same config, the next steps are
the ones the uninterrupted run would have taken: on NumPy the final parameters and metrics
are equal bit for bit (tests/run/test_resume.py). CuPy's generator state is not saved, so a
resumed CuPy run with dropout draws different masks from the restart on.
"""
from __future__ import annotations

import json
import signal
import threading
from typing import NamedTuple

import numpy as np
from omegaconf import OmegaConf

from ..engine.backend import to_host
from .checkpoint import CheckpointError, load_checkpoint, restore_params
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
    if different := mismatches(ck["config"], cfg):
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


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; the state after ``step`` is saved in ``path``.

    A BaseException, like KeyboardInterrupt: code that catches ``Exception`` (a plugin's, or the
    error boundary's bug report) must not swallow a stop the user asked for."""

    def __init__(self, signum: int, step: int, path: str):
        self.signum, self.step, self.path = signum, step, path
        super().__init__(f"{signal.Signals(signum).name} at step {step}")


def capture(opt, host_rng, backend, step: int, tokens: int, run_id: str | None) -> dict:
    """The training state as plain arrays (``save_checkpoint(..., state=...)``)."""
    state = {"optim.t": np.array(opt.t), "tokens": np.array(tokens), "run_id": np.array(run_id or ""),
             "rng.host": np.array(json.dumps(host_rng.bit_generator.state))}
    device = backend.device_rng
    if isinstance(device, np.random.Generator):
        state["rng.device"] = np.array(json.dumps(device.bit_generator.state))
    for name, slots in opt.state.items():
        for slot, value in slots.items():
            state[f"optim/{name}/{slot}"] = to_host(value)
    return state


def restore(state: dict, opt, host_rng, backend) -> tuple[int, str | None]:
    """Put ``state`` back into the optimizer and generators; returns (tokens, run id)."""
    opt.t = int(state["optim.t"])
    for key, value in state.items():
        if key.startswith("optim/"):
            name, slot = key[len("optim/"):].rsplit("/", 1)
            if name not in opt.state:
                raise CheckpointError(f"the checkpoint's optimizer state names a parameter the model lacks: {name}")
            like = opt.params[name]
            opt.state[name][slot] = backend.xp.asarray(value, dtype=like.dtype)
    host_rng.bit_generator.state = json.loads(str(state["rng.host"]))
    if "rng.device" in state and isinstance(backend.device_rng, np.random.Generator):
        backend.device_rng.bit_generator.state = json.loads(str(state["rng.device"]))
    return int(state["tokens"]), str(state["run_id"]) or None


def mismatches(saved_yaml: str, cfg) -> list[str]:
    """The MUST_MATCH keys on which the checkpoint's config and this run's differ."""
    saved = OmegaConf.create(saved_yaml)
    out = []
    for key in MUST_MATCH:
        a, b = OmegaConf.select(saved, key, default=None), OmegaConf.select(cfg, key, default=None)
        a = OmegaConf.to_container(a) if OmegaConf.is_config(a) else a
        b = OmegaConf.to_container(b) if OmegaConf.is_config(b) else b
        if a != b:
            out.append(f"{key} (checkpoint: {a!r}, now: {b!r})")
    return out


class StopSignals:
    """While active, SIGINT/SIGTERM only set ``signum``; the loop saves and stops after the current step.

    A second Ctrl-C interrupts at once (KeyboardInterrupt). Outside the main thread (a launcher's
    worker thread) signals cannot be caught and this does nothing.
    """

    def __init__(self):
        self.signum: int | None = None
        self._old: dict = {}

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False
