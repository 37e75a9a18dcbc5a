"""The runner: build everything from a composed config, train with BPTT, evaluate, track.

``fit(cfg, ctx)`` checks the whole configuration (building backend, task, model
and optimizer) and opens the tracking run before the first step, so a bad
setting or an unusable store fails in seconds, not after training. It talks to
a ``Tracker``, never to MLflow.
"""
from __future__ import annotations

import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from . import __version__
from .backend import DTYPES, get_backend, to_host
from .checkpoint import load_checkpoint, restore_params, save_checkpoint
from .config import TOPOLOGY_KINDS, unknown_keys
from .plugins import PluginError
from .optim import clip_by_global_norm, clip_by_value, global_norm, make_optimizer
from .plugins import make_task
from .resume import Interrupted, StopSignals, capture, mismatches, restore
from .topologies import recurrent, truncated_bptt
from .tracking import make_tracker
from .tree import flatten


class ConfigError(ValueError):
    """A setting that cannot work; the message names the key, the value and what would."""


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss); the message names the step and likely cause."""


@dataclass
class RunContext:
    """What the entry point knows that the config does not: names, tags, where files go."""

    run_name: str = "seqfw"
    tags: dict = field(default_factory=dict)
    output_dir: Path | None = None
    parent_run_id: str | None = None
    config_files: list = field(default_factory=list)  # Hydra's .hydra/*.yaml, logged as artifacts


@dataclass
class RunResult:
    metrics: dict
    objective: float
    metric: str
    steps: int
    seconds: float
    tokens_per_s: float
    run_id: str | None
    browse: str
    description: str
    train_loss: float  # of the last step's batch


def _check_train(t) -> None:
    for key in ("steps", "batch_size", "eval_every", "log_every"):
        if getattr(t, key) < 1:
            raise ConfigError(f"train.{key} must be >= 1, got {getattr(t, key)}")
    if t.bptt is not None and t.bptt < 1:
        raise ConfigError(f"train.bptt must be null (full BPTT) or >= 1, got {t.bptt}")
    for key in ("clip_norm", "clip_value"):
        if getattr(t, key) is not None and not getattr(t, key) > 0:
            raise ConfigError(f"train.{key} must be null (off) or > 0, got {getattr(t, key)}")
    if t.grad_curves < 0:
        raise ConfigError(f"train.grad_curves must be >= 0, got {t.grad_curves}")
    if t.checkpoint_every is not None and t.checkpoint_every < 1:
        raise ConfigError(f"train.checkpoint_every must be null (= train.eval_every) or >= 1, got {t.checkpoint_every}")
    if t.on_nonfinite not in ("stop", "skip"):
        raise ConfigError(f"train.on_nonfinite must be stop or skip, got {t.on_nonfinite!r}")


def _options(node) -> dict:
    return {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k != "name"}


def _check_model(cfg) -> None:
    topo = cfg.topology
    if topo.num_layers < 1:
        raise ConfigError(f"topology.num_layers must be >= 1, got {topo.num_layers}")
    if not 0.0 <= topo.dropout < 1.0:
        raise ConfigError(f"topology.dropout must be in [0, 1), got {topo.dropout}")
    if cfg.cell.hidden_size < 1:
        raise ConfigError(f"cell.hidden_size must be >= 1, got {cfg.cell.hidden_size}")
    if cfg.backend.dtype not in DTYPES:
        raise ConfigError(f"backend.dtype must be one of {', '.join(DTYPES)}, got {cfg.backend.dtype!r}")


def _net_factory(cfg, input_size: int):
    """``make_net(bidirectional=None)``: a Stacked network of the configured cell and topology."""
    topo, options = cfg.topology, _options(cfg.cell)
    hidden = options.pop("hidden_size")

    def make_net(bidirectional: bool | None = None):
        try:
            return recurrent(cfg.cell.name, input_size, hidden, num_layers=topo.num_layers,
                             bidirectional=topo.bidirectional if bidirectional is None else bidirectional,
                             dropout=topo.dropout, **options)
        except PluginError:
            raise  # already names the cell and what to do
        except ValueError as err:  # the cell's own check: say which key to change
            key = next((k for k in options if k in str(err)), None)
            where = f"cell.{key}={options[key]!r}" if key else f"cell={cfg.cell.name}"
            raise ConfigError(f"{where}: {err}") from None

    return make_net


def build(cfg: DictConfig):
    """Backend, task, model, params and optimizer from ``cfg``; every setting checked here."""
    extra = unknown_keys(cfg)
    if extra:
        raise ConfigError(f"unknown config key{'s' if len(extra) > 1 else ''} {', '.join(extra)}: no schema declares "
                          "it (python -m seqfw --cfg job shows every key); remove the '+' override.")
    _check_train(cfg.train)
    _check_model(cfg)
    topo = cfg.topology
    task = make_task(cfg.task.name, **_options(cfg.task))
    kind = topo.kind or task.info.topologies[0]
    fits = ", ".join(task.info.topologies)
    if kind not in TOPOLOGY_KINDS or kind not in task.info.topologies:
        raise ConfigError(
            f"topology.kind={kind!r} does not fit task={task.name}: it fits {fits} "
            f"(e.g. topology={task.info.default_topology}, or topology=bidir / deep, which take the task's kind)."
        )
    if topo.bidirectional and not task.info.bidirectional:
        raise ConfigError(f"task={task.name} must not read the future: a bidirectional network would see the "
                          f"answer. Use a unidirectional topology (topology.bidirectional=false); it fits {fits}.")
    if cfg.train.bptt is not None and kind not in ("many_to_many", "one_to_many"):
        raise ConfigError(f"train.bptt (truncated BPTT) needs an output at every step; topology.kind={kind} "
                          "has one at the end. Leave train.bptt=null.")
    be = get_backend(cfg.backend.name, cfg.backend.dtype, cfg.seed)
    make_net = _net_factory(cfg, task.input_size)
    model = task.build_model(make_net(), kind, make_net)
    params = model.init_params(be.host_rng(cfg.seed), be.xp, be.dtype)
    opt = make_optimizer(cfg.optim.name, params, **_options(cfg.optim))
    return be, task, model, params, opt


def describe(cfg, task) -> str:
    t = cfg.topology
    kind = t.kind or task.info.topologies[0]
    shape = (f"{'' if kind == t.name else kind + ', '}{t.num_layers} layer{'s' if t.num_layers > 1 else ''}"
             f"{', bidirectional' if t.bidirectional else ''}")
    return (f"{task.describe()}\ncell {cfg.cell.name} (H={cfg.cell.hidden_size}) · topology {t.name} ({shape}) · "
            f"backend {cfg.backend.name} {cfg.backend.dtype} · optim {cfg.optim.name} lr={cfg.optim.lr} · "
            f"{cfg.train.steps} steps of {cfg.train.batch_size}")


def fit(cfg: DictConfig, ctx: RunContext | None = None) -> RunResult:
    ctx = ctx or RunContext()
    be, task, model, params, opt = build(cfg)
    metric = cfg.optimized_metric or task.info.metric
    rng = np.random.default_rng(cfg.seed)  # draws the batches: its state is the data position
    start = _resume(cfg, be, params, opt, rng) if cfg.train.resume else {"step": 0, "tokens": 0, "run_id": None}
    tags = {"cell": cfg.cell.name, "topology": cfg.topology.name, "task": task.name, "backend": be.name,
            "seqfw_version": __version__, **ctx.tags}
    tracker = make_tracker(cfg.tracking, task.name, ctx.run_name, tags, ctx.parent_run_id, start["run_id"])
    try:
        return _train(cfg, ctx, be, task, model, params, opt, metric, tracker, rng, start)
    except (KeyboardInterrupt, Interrupted):
        tracker.finish("KILLED")
        raise
    except BaseException:
        tracker.finish("FAILED")
        raise


def _resume(cfg, be, params, opt, rng) -> dict:
    """Load ``train.resume`` into params, optimizer and generators; checked before anything is tracked."""
    path = cfg.train.resume
    try:
        ck = load_checkpoint(path)
    except ValueError as err:
        raise ConfigError(f"train.resume: {err}") from None
    if not ck["state"]:
        raise ConfigError(f"train.resume={path!r} holds parameters only, no training state (optimizer, random "
                          "generators), so the run cannot continue exactly; start a new run instead.")
    if different := mismatches(ck["config"], cfg):
        raise ConfigError(f"train.resume={path!r} was written by a run with other settings: {'; '.join(different)}. "
                          "Resume with the same overrides as the interrupted run (train.steps may grow).")
    if ck["step"] >= cfg.train.steps:
        raise ConfigError(f"train.resume={path!r} is at step {ck['step']}, and train.steps={cfg.train.steps}: "
                          "nothing left to do; raise train.steps to train on.")
    restore_params(params, ck["params"], be.xp)
    tokens, run_id = restore(ck["state"], opt, rng, be)
    return {"step": ck["step"], "tokens": tokens, "run_id": run_id if cfg.tracking.name == "mlflow" else None}


def _train(cfg, ctx, be, task, model, params, opt, metric, tracker, rng, resumed) -> RunResult:
    from tqdm.auto import tqdm

    first = resumed["step"] + 1
    if first == 1:  # a resumed run has its params, config and first curves already
        resolved = OmegaConf.to_container(cfg, resolve=True)
        tracker.log_params(flatten(resolved))
        tracker.log_text(OmegaConf.to_yaml(cfg), "config/resolved.yaml")
        for path in ctx.config_files:
            tracker.log_artifact(str(path), "config/hydra")
    t, xp = cfg.train, be.xp
    out_dir = Path(ctx.output_dir) if ctx.output_dir else Path(tempfile.mkdtemp(prefix="seqfw-"))
    ckpt_path, ckpt_every = out_dir / "checkpoint.npz", t.checkpoint_every or t.eval_every
    last_good: tuple[int, Path] | None = None

    def save(step: int) -> Path:
        state = capture(opt, rng, be, step, tokens, tracker.run_id)
        return save_checkpoint(ckpt_path, params, step=step, config=OmegaConf.to_yaml(cfg), state=state)

    curve_steps = set(np.linspace(0, t.steps, t.grad_curves).round().astype(int)) if t.grad_curves else set()
    curves: dict[str, dict] = {}
    metrics: dict = {}
    tokens, start, skipped, in_a_row = resumed["tokens"], time.perf_counter(), 0, 0
    seen = tokens
    bar = tqdm(total=t.steps, initial=first - 1, desc="train", file=sys.stderr, disable=not t.progress,
               dynamic_ncols=True, mininterval=0.5)
    heat: dict[str, dict] = {}
    if first == 1:
        _record_curves(heat, 0, model, params, task, xp, tracker, "heatmap")
    with StopSignals() as stop:
        for step in range(first, t.steps + 1):
            if step - 1 in curve_steps:
                _record_curves(curves, step - 1, model, params, task, xp, tracker)
            batch = task.train_batch(rng, t.batch_size).to(xp, be.dtype)
            loss, logged, bad = _step(cfg, model, params, opt, batch, be.random, step)
            tokens += int(to_host(batch.lengths).sum())
            rate = (tokens - seen) / (time.perf_counter() - start)
            if bad and t.on_nonfinite == "stop":
                where = (f"The last good checkpoint (step {last_good[0]}) is {last_good[1]}" if last_good else
                         f"No checkpoint was written yet (every train.checkpoint_every={ckpt_every} steps)")
                raise TrainingError(f"{bad} at step {step}. The learning rate is likely too high "
                                    f"(optim.lr={cfg.optim.lr}) or gradients exploded: lower optim.lr or set "
                                    f"train.clip_norm (now {t.clip_norm or 'null: off'}). {where}; "
                                    "train.on_nonfinite=skip skips such batches instead.")
            in_a_row = in_a_row + 1 if bad else 0
            if bad:
                skipped += 1
                tracker.log_metrics({"train/skipped_batches": skipped}, step)
                if in_a_row >= 10:
                    raise TrainingError(f"{bad} at step {step}, and in each of the 9 batches before it: skipping "
                                        "cannot help. Lower optim.lr or set train.clip_norm.")
            if logged:
                tracker.log_metrics({**logged, "throughput/tokens_per_s": rate}, step)
            if step % t.eval_every == 0 or step == t.steps:
                metrics = task.evaluate(model, params, xp)
                tracker.log_metrics(metrics, step)
                tracker.log_text(task.samples(model, params, xp), f"samples/step_{step:06d}.txt")
                _record_curves(heat, step, model, params, task, xp, tracker, "heatmap", draw=step == t.steps)
                tracker.flush()
            if step % ckpt_every == 0 and step < t.steps:
                last_good = (step, save(step))
            if stop.signum is not None:
                tracker.flush()
                raise Interrupted(stop.signum, step, str(save(step)))
            bar.set_postfix({"loss": f"{loss:.3f}", metric: f"{metrics.get(metric, float('nan')):.3f}",
                             "tok/s": f"{rate:,.0f}"}, refresh=False)
            bar.update(1)
    bar.close()
    if t.steps in curve_steps:
        _record_curves(curves, t.steps, model, params, task, xp, tracker, draw=True)
    seconds = time.perf_counter() - start
    ckpt = save(t.steps)
    tracker.log_artifact(str(ckpt), "checkpoints")
    tracker.log_model(str(ckpt))
    if metric not in metrics:
        raise ConfigError(f"optimized_metric={metric!r} is not reported by task={task.name}; it reports "
                          f"{', '.join(sorted(metrics))}")
    tracker.finish("FINISHED")
    return RunResult(metrics, float(metrics[metric]), metric, t.steps, seconds, (tokens - seen) / seconds,
                     tracker.run_id, tracker.browse_hint(), describe(cfg, task), loss)


def _step(cfg, model, params, opt, batch, noise, step: int) -> tuple[float, dict | None, str | None]:
    """One update: loss and gradients, clipping, the optimizer. Returns the loss, every
    ``train.log_every`` steps the metrics to log (gradient norms before clipping), and what was
    not finite (the update is then not applied), else None."""
    t = cfg.train
    with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is caught just below, with advice
        loss, grads = _loss_and_grads(model, params, batch, t.bptt, noise)
        total = global_norm(grads)
    if not math.isfinite(loss):
        return loss, None, f"the training loss became {loss}"
    if not math.isfinite(total):
        return loss, None, f"the gradient became non-finite (global norm {total})"
    logged = None
    if step % t.log_every == 0:
        per_param = {f"grad_norm/{k}": math.sqrt(float((g * g).sum())) for k, g in flatten(grads).items()}
        logged = {"train/loss": loss, "grad_norm/global": total, **per_param}
    if t.clip_norm:
        clip_by_global_norm(grads, t.clip_norm, norm=total)
    if t.clip_value:
        clip_by_value(grads, t.clip_value)
    opt.step(grads)
    return loss, logged, None


def batch_loss(model, params, batch, train: bool = True, noise=None, step_norms: bool = False):
    """``(loss, grads, final states, norms)`` of one whole batch, whatever the model's kind."""
    if model.kind == "encoder_decoder":
        return model.loss_and_grads(params, batch.inputs, batch.lengths, batch.decoder_inputs, batch.targets,
                                    batch.target_lengths, train=train, noise=noise, step_norms=step_norms)
    return model.loss_and_grads(params, batch.inputs, batch.targets, batch.lengths, train=train, noise=noise,
                                step_norms=step_norms)


def _loss_and_grads(model, params, batch, bptt, noise):
    if model.kind not in ("many_to_many", "one_to_many") or bptt is None:  # one output per sequence, or full BPTT
        loss, grads, _, _ = batch_loss(model, params, batch, noise=noise)
        return loss, grads

    def window(sl, lengths, state):
        loss, grads, finals, _ = model.loss_and_grads(params, batch.inputs[sl], batch.targets[sl], lengths,
                                                      state, train=True, noise=noise)
        return loss, grads, finals

    loss, grads, _ = truncated_bptt(window, batch.inputs.shape[0], bptt, batch.lengths)
    return loss, grads


def _record_curves(curves: dict, step: int, model, params, task, xp, tracker, name: str = "curves",
                   draw: bool = False) -> None:
    """‖∂L/∂a<t>‖ against t on a fixed validation batch, per layer and direction, at training step
    ``step``; logged as JSON every time, and when ``draw`` (the last point) as a figure: line plots
    (``curves``) or a training-step × t heatmap. A figure costs ~0.5 s, and each would replace the last."""
    if tracker.run_id is None:
        return
    b = task.curve_batch().to(xp, params["head"]["W"].dtype)
    *_, norms = batch_loss(model, params, b, train=False, step_norms=True)
    for layer, dirs in enumerate(norms):
        for d, values in dirs.items():
            curves.setdefault(f"layer{layer}/{d}", {})[str(step)] = [float(v) for v in to_host(values)]
    tracker.log_dict(curves, f"grad_norms/{name}.json")
    if not draw:
        return
    from .plots import grad_norm_figure, grad_norm_heatmap

    plot = grad_norm_heatmap if name == "heatmap" else grad_norm_figure
    tracker.log_figure(lambda: plot(curves), f"grad_norms/{name}.png")


def run(cfg: Any, ctx: RunContext | None = None) -> float:
    """Train and return the metric to optimise (``optimized_metric``, else the task's)."""
    return fit(cfg, ctx).objective
