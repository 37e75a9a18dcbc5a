"""The runner: a run's life from a composed config to a finished, failed or killed MLflow run.

``fit(cfg, ctx)`` builds and checks everything (``seqfw.runner.build``) and opens the tracking
run before the first step, so a bad setting or an unusable store fails in seconds. The loop
is a sequence of named steps over one ``RunState``::

    for step in first .. train.steps:                     Trainer.run
        one_step:  curves (at a few points)  ->  train_step  ->  handle_nonfinite  ->  log
                   evaluate (every eval_every)  ->  checkpoint (every checkpoint_every)
        stop on a signal (the state saved first)
    finish: last curves, checkpoint and model logged, the run marked FINISHED

``fit`` owns the run's terminal state: FINISHED at the end, KILLED on a signal, FAILED on
anything else (MemoryError included), whenever it happens; the status it reports is the one
the store holds afterwards. Signals are handled as ``seqfw.runner.life`` says: outside the loop
they stop at once, in the loop the first one waits for the step's end and saves, and no signal
cuts the creation of the run, a checkpoint write or the terminal write short. In a sweep, a
job that fails before its run exists still leaves a FAILED child run naming the error. It
talks to a ``Tracker``, never to MLflow.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from .._version import __version__
from ..engine import compiled
from ..engine.backend import to_host
from . import provenance
from .build import Setup, build, describe
from .checkpoint import save_checkpoint
from .curves import Curves
from .life import SIGNALS, Interrupted, hold_directory, phase
from .notes import experiment_note
from .param_norms import ParamNorms
from .resume import Start, capture, resume_into
from .settings import ConfigError, RunContext, RunResult, TrainingError
from .step import train_step
from .tracking import TrackingError, flat_params, make_tracker, record_failed_job

SKIP_LIMIT = 10  # train.on_nonfinite=skip gives up after this many bad batches in a row


@dataclass
class RunState:
    """What changes while the run trains."""

    step: int  # the last step done
    tokens: int  # tokens trained on, over the whole run (a resumed run continues the count)
    tokens_at_start: int
    started: float = field(default_factory=time.perf_counter)
    loss: float = float("nan")  # of the last step's batch
    metrics: dict = field(default_factory=dict)  # the last evaluation's
    last_good: tuple[int, Path] | None = None  # the last periodic checkpoint: (step, path)
    skipped: int = 0
    in_a_row: int = 0

    def rate(self) -> float:
        return (self.tokens - self.tokens_at_start) / max(time.perf_counter() - self.started, 1e-9)


class Trainer:
    """The loop's named steps; ``run()`` strings them together."""

    def __init__(self, cfg, ctx: RunContext, setup: Setup, tracker, rng: np.random.Generator, start: Start):
        self.cfg, self.ctx, self.s, self.tracker, self.rng = cfg, ctx, setup, tracker, rng
        self.t = setup.train
        self.metric = cfg.optimized_metric or setup.task.info.metric
        self.state = RunState(start.step, start.tokens, start.tokens)
        out_dir = Path(ctx.output_dir) if ctx.output_dir else Path(tempfile.mkdtemp(prefix="seqfw-"))
        self.ckpt_path = out_dir / "checkpoint.npz"
        xp, dtype = setup.backend.xp, setup.backend.dtype
        t = cfg.topology
        name = OmegaConf.select(cfg, "tracking.run_name", default=None) or ctx.run_name  # as the store names it
        name = name if len(name) <= 60 else name[:59] + "…"
        title = (f"{name} · cell {cfg.cell.name} (H={cfg.cell.hidden_size}) · task {setup.task.name} · "
                 f"{setup.kind}{', bidirectional' if t.bidirectional else ''}, {t.num_layers} layer(s)")
        self.curves = Curves(("curves", "lag"), tracker, setup.task, xp, dtype, title, start.step)
        self.heatmap = Curves(("heatmap",), tracker, setup.task, xp, dtype, title, start.step)
        self.param_norms = ParamNorms(tracker, title, start.step)  # grad_norms/params.json and .png
        points = np.linspace(0, self.t.steps, self.t.grad_curves).round().astype(int) if self.t.grad_curves else []
        self.curve_steps = {int(p) for p in points}

    def run(self) -> RunResult:
        from tqdm.auto import tqdm

        first = self.state.step + 1
        if first == 1 or self.tracker.fresh:  # a continued run has its params and config already
            self.log_config()
        if first == 1:
            self.heatmap.record(0, self.s.model, self.s.params)
        bar = tqdm(total=self.t.steps, initial=first - 1, desc="train", file=sys.stderr, disable=not self.t.progress,
                   dynamic_ncols=True, mininterval=0.5)
        with SIGNALS.loop():
            for step in range(first, self.t.steps + 1):
                self.one_step(step)
                if step == first:
                    phase("loop")
                if SIGNALS.requested:
                    self.stop(step)
                bar.set_postfix({"loss": f"{self.state.loss:.3f}",
                                 self.metric: f"{self.state.metrics.get(self.metric, float('nan')):.3f}",
                                 "tok/s": f"{self.state.rate():,.0f}"}, refresh=False)
                bar.update(1)
        bar.close()
        return self.finish()

    def one_step(self, step: int) -> None:
        if step - 1 in self.curve_steps:
            self.curves.record(step - 1, self.s.model, self.s.params)
        batch = self.s.task.train_batch(self.rng, self.t.batch_size).to(self.s.backend.xp, self.s.backend.dtype)
        result = train_step(self.s.model, self.s.params, self.s.optimizer, batch, self.t, self.s.backend.random, step)
        self.state.step, self.state.loss = step, result.loss
        self.state.tokens += int(to_host(batch.lengths).sum())
        self.handle_nonfinite(result.bad, step)
        if result.logged:
            self.tracker.log_metrics({**result.logged, "throughput/tokens_per_s": self.state.rate()}, step)
            self.param_norms.add(step, result.param_norms)
        if step % self.t.eval_every == 0 or step == self.t.steps:
            self.evaluate(step)
        if step % self.t.checkpoint_period == 0 and step < self.t.steps:
            self.state.last_good = (step, self.checkpoint(step))

    # -- the named steps ----------------------------------------------------------------------
    def stop(self, step: int) -> None:
        """A signal asked to stop: the metrics so far and the whole state after ``step`` are saved first."""
        self.tracker.flush()
        self.param_norms.log()
        path = self.checkpoint(step)
        SIGNALS.delivered()
        raise Interrupted(SIGNALS.signum, step, str(path))

    def log_config(self) -> None:
        self.tracker.log_params(flat_params(OmegaConf.to_container(self.cfg, resolve=True)))  # nulls too
        self.tracker.log_text(OmegaConf.to_yaml(self.cfg), "config/resolved.yaml")
        for path in self.ctx.config_files:
            self.tracker.log_artifact(str(path), "config/hydra")

    def handle_nonfinite(self, bad: str | None, step: int) -> None:
        """``train.on_nonfinite``: stop naming the cause and the last good checkpoint, or skip the batch."""
        st = self.state
        st.in_a_row = st.in_a_row + 1 if bad else 0
        if not bad:
            return
        if self.t.on_nonfinite == "stop":
            where = (f"The last good checkpoint (step {st.last_good[0]}) is {st.last_good[1]}" if st.last_good else
                     f"No checkpoint was written yet (every train.checkpoint_every={self.t.checkpoint_period} steps)")
            raise TrainingError(f"{bad} at step {step}. The learning rate is likely too high "
                                f"(optim.lr={self.cfg.optim.lr}) or gradients exploded: lower optim.lr or set "
                                f"train.clip_norm (now {self.t.clip_norm or 'null: off'}). {where}; "
                                "train.on_nonfinite=skip skips such batches instead.")
        st.skipped += 1
        self.tracker.log_metrics({"train/skipped_batches": st.skipped}, step)
        if st.in_a_row >= SKIP_LIMIT:
            raise TrainingError(f"{bad} at step {step}, and in each of the {SKIP_LIMIT - 1} batches before it: "
                                "skipping cannot help. Lower optim.lr or set train.clip_norm.")

    def evaluate(self, step: int) -> None:
        s = self.s
        self.state.metrics = s.task.evaluate(s.model, s.params, s.backend.xp)
        self.tracker.log_metrics(self.state.metrics, step)
        self.tracker.log_text(s.task.samples(s.model, s.params, s.backend.xp), f"samples/step_{step:06d}.txt")
        self.heatmap.record(step, s.model, s.params, draw=step == self.t.steps)
        self.param_norms.log(draw=step == self.t.steps)
        self.tracker.flush()

    def checkpoint(self, step: int) -> Path:
        """The whole training state after ``step`` (parameters, optimizer, generators, counters)."""
        state = capture(self.s.optimizer, self.rng, self.s.backend, step, self.state.tokens, self.tracker.run_id,
                        self.state.metrics)
        with SIGNALS.protected():  # a stop waits for the file: never a half-written one, no stray temporary
            phase("checkpoint")
            return save_checkpoint(self.ckpt_path, self.s.params, step=step, config=OmegaConf.to_yaml(self.cfg),
                                   state=state, sources=provenance.to_text(provenance.sources(self.cfg)))

    def finish(self) -> RunResult:
        st, t = self.state, self.t
        if t.steps in self.curve_steps:
            self.curves.record(t.steps, self.s.model, self.s.params, draw=True)
        seconds = time.perf_counter() - st.started
        ckpt = self.checkpoint(t.steps)
        st.last_good = (t.steps, ckpt)
        self.tracker.log_artifact(str(ckpt), "checkpoints")
        phase("model")
        self.tracker.log_model(str(ckpt), provenance.requirements(provenance.sources(self.cfg)), step=t.steps)
        if self.metric not in st.metrics:
            raise ConfigError(f"optimized_metric={self.metric!r} is not reported by task={self.s.task.name}; it "
                              f"reports {', '.join(sorted(st.metrics))}")
        with SIGNALS.ending():
            phase("finish")
            self.tracker.finish("FINISHED")
        rate = (st.tokens - st.tokens_at_start) / seconds
        return RunResult(st.metrics, float(st.metrics[self.metric]), self.metric, t.steps, seconds, rate,
                         self.tracker.run_id, self.tracker.browse_hint(), describe(self.cfg, self.s.task, self.s.kind), st.loss,
                         self.s, ckpt, self.tracker.link())


def fit(cfg, ctx: RunContext | None = None) -> RunResult:
    """Train as ``cfg`` says and return the result; the tracking run always ends in a true state."""
    ctx = ctx or RunContext()
    SIGNALS.install().begin_run()
    tracker, trainer = None, None
    try:
        phase("setup")
        setup = build(cfg)
        rng = np.random.default_rng(cfg.seed)  # draws the batches: its state is the data position
        claim_directories(ctx, setup.train.resume)
        start = resume_into(setup, cfg, rng) if setup.train.resume else Start()
        tags = {**ctx.tags, "cell": cfg.cell.name, "topology": cfg.topology.name, "task": setup.task.name,
                "backend": setup.backend.name, "seqfw_version": __version__, **provenance.tags(provenance.sources(cfg))}
        if setup.backend.name == "numpy":  # which executor ran the elementwise math (docs/benchmarks.md)
            tags["seqfw.cpu_path"] = compiled.path_name()
        if ctx.output_dir:
            tags["seqfw.output_dir"] = str(Path(ctx.output_dir).resolve())
        with SIGNALS.protected():  # the run is created whole, or not at all
            tracker = make_tracker(cfg.tracking, setup.task.name, ctx.run_name, tags, ctx.parent_run_id,
                                   start.run_id, start.step, setup.train.resume, experiment_note(setup.task))
            phase("tracker")
        if setup.train.resume and tracker.run_id:
            say_how_resumed(tracker, start)
        trainer = Trainer(cfg, ctx, setup, tracker, rng, start)
        return trainer.run()
    except BaseException as err:
        end_in_truth(err, tracker, trainer, cfg, ctx)
        raise


def say_how_resumed(tracker, start: Start) -> None:
    if tracker.fresh:
        print(f"resume: {tracker.note}, so this continues as a new MLflow run {tracker.run_id}, linked to it by the "
              f"tags seqfw.resumed_from and seqfw.resumed_from_step={start.step}", file=sys.stderr)
    else:
        print(f"resume: continuing MLflow run {tracker.run_id} after step {start.step}", file=sys.stderr)


def claim_directories(ctx: RunContext, resume: str | None) -> None:
    """Hold this run's output directory, and a resumed checkpoint's, for the run's life: a directory
    another live seqfw process holds is refused, so no two processes write or continue one run."""
    if ctx.output_dir and not hold_directory(Path(ctx.output_dir)):
        raise ConfigError(f"the output directory {ctx.output_dir} is in use by another running seqfw process. "
                          "Give this run its own directory (leave hydra.run.dir out: each run gets a new one).")
    if resume and not hold_directory(Path(resume).parent):
        raise ConfigError(f"train.resume={resume!r}: that checkpoint's run is still going on in another process "
                          "(the run that writes it, or another resume of it). Wait for it to stop (Ctrl-C saves "
                          "it), then resume from the checkpoint it leaves.")


def end_in_truth(err: BaseException, tracker, trainer, cfg, ctx: RunContext) -> None:
    """Write the run's terminal state for ``err``: KILLED for a signal, FAILED for anything else.

    Nothing may cut this short (signals meanwhile are only counted). An ``Interrupted`` learns
    the status the store now holds, so that what is printed is what is stored."""
    killed = isinstance(err, (Interrupted, KeyboardInterrupt))
    if isinstance(err, Interrupted) and err.path is None and trainer is not None:
        last = trainer.state.last_good
        err.complete = last is not None and last[0] == trainer.t.steps  # the final checkpoint is written
        if trainer.state.last_good:
            step, path = trainer.state.last_good
            err.last_good = (step, str(path))
    if tracker is None:  # no run exists: a sweep's job still leaves a FAILED child saying why
        if ctx.parent_run_id and not killed and not isinstance(err, TrackingError):
            with SIGNALS.ending():
                record_failed_job(cfg, ctx, err)
        return
    with SIGNALS.ending():
        status = tracker.finish("KILLED" if killed else "FAILED")
    if isinstance(err, Interrupted):
        err.status, err.run_id = status, tracker.run_id
    elif status not in ("FAILED", "FINISHED"):
        print(f"warning: MLflow run {tracker.run_id} could not be marked FAILED; the store says {status}",
              file=sys.stderr)


def run(cfg, ctx: RunContext | None = None) -> float:
    """Train and return the metric to optimise (``optimized_metric``, else the task's)."""
    return fit(cfg, ctx).objective
