"""A finished run as one Python object: its trained model, its task, and what it measured.

``seqfw.run([...])`` hands one back when training ends; ``seqfw.load(run_id_or_checkpoint)``
rebuilds the same from the run's checkpoint, which carries the run's config, its parameters,
its run id and its last evaluation's metrics::

    trained = seqfw.load("3f2a...")            # or "outputs/.../checkpoint.npz" (no link then: offline)
    trained.metrics, trained.run_id             # {"val/perplexity": 3.1, ...}, "3f2a..."
    trained.sample(5, seed=0)                   # a language model's samples
    trained.sample(5, top_k=3, prime="Mar")     # ... among the 3 likeliest tokens, continuing "Mar"
    trained.sample(1, greedy=True)              # the most likely text (temperature 0)
    trained.score("the value is returned .")    # log P(sentence) and each token's
    trained.predict(["John lives in Paris"])    # what the served model answers
    trained.model, trained.params               # the engine's objects, to step, probe or export
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..tasks.lm import LanguageModelTask
from ..tasks.sampling import MAX_SAMPLES, RULES, SamplingError, controls_problem
from .settings import ConfigError


class Score(NamedTuple):
    """log P(text) in nats, and each token's log-probability."""

    logp: float
    tokens: list  # [(token, log P), ...]


def sampling_problem(n: int, seed: int, temperature: float | None, names: dict | None = None, *,
                     top_k: int | None = None, top_p: float | None = None, greedy: bool = False,
                     prime: str | None = None, task=None) -> str | None:
    """Why a request for ``n`` samples cannot be served, or None; ``names`` spells each argument the way
    the caller's user typed it (``{"n": "-n", "seed": "--seed", "temperature": "--temperature", "top_k":
    "--top-k", "top_p": "--top-p", "greedy": "--greedy", "prime": "--prime"}``). With ``task`` (the
    built language-model task) also what only it knows: a prefix its vocabulary lacks, and a top-k or
    top-p for a run that samples greedily (task.temperature 0)."""
    name = {"n": "n", "seed": "seed", "temperature": "temperature", "top_k": "top_k", "top_p": "top_p",
            "greedy": "greedy=True", "prime": "prime", **(names or {})}
    for key, value in (("n", n), ("seed", seed)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            return f"{name[key]} must be a whole number, got {value!r}"
    if n < 1:
        return f"{name['n']} must be >= 1, got {n}"
    if n > MAX_SAMPLES:
        return (f"{name['n']} must be at most {MAX_SAMPLES:,} (the samples are drawn as one batch), got {n}; "
                f"for more, draw again with another {name['seed']}")
    if seed < 0:
        return f"{name['seed']} must be >= 0, got {seed} (numpy's generators take no negative seed)"
    if not isinstance(greedy, (bool, np.bool_)):
        return f"{name['greedy'].removesuffix('=True')} must be True or False, got {greedy!r}"
    if temperature is not None and not RULES["temperature"][0](temperature):
        return (f"{name['temperature']} must be a finite number >= 0 (0: greedy, the most likely token at each "
                f"step), got {temperature!r}; leave it out for the run's task.temperature")
    if problem := controls_problem(temperature, top_k, top_p, greedy, name):
        return problem
    if prime is not None and not isinstance(prime, str):
        return f"{name['prime']} must be a string (the text to continue), got {prime!r}"
    if task is not None and (missing := _unsupported(task, top_k=top_k, top_p=top_p, prime=prime)):
        flags = ", ".join(name[k] for k in missing)
        return (f"task={task.name}'s sampler has no {flags} (its sample() takes no such argument: a plugin written "
                f"before these controls); leave {'it' if len(missing) == 1 else 'them'} out")
    if isinstance(task, LanguageModelTask):
        try:
            task.controls(0 if greedy else temperature, top_k, top_p, name)
            task.prime_ids(prime or "", name["prime"])
        except SamplingError as err:
            return str(err)
    return None


def _unsupported(task, **asked) -> list[str]:
    """The controls asked for (given, not None or "") that ``task.sample`` takes no argument for."""
    params = inspect.signature(task.sample).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return [k for k, v in asked.items() if v not in (None, "") and k not in params]


def draw(task, model, params, xp, n: int, seed: int, temperature: float | None = None, *, top_k: int | None = None,
         top_p: float | None = None, prime: str | None = None, greedy: bool = False) -> list[str]:
    """``task.sample`` for a request ``sampling_problem`` passed: greedy is temperature 0, and the controls
    beyond the temperature are passed only when used (a plugin's sampler may take (n, rng, temperature) only)."""
    asked = {k: v for k, v in (("top_k", top_k), ("top_p", top_p), ("prime", prime)) if v not in (None, "")}
    return task.sample(model, params, xp, n, np.random.default_rng(seed), 0 if greedy else temperature, **asked)


@dataclass
class Trained:
    """A finished run: ``model`` and its trained ``params`` on ``backend``, the ``task`` (data, vocabulary,
    metrics), the run's config ``cfg``, its last evaluation's ``metrics``, its MLflow ``run_id`` (None
    when it was not tracked), a ``link`` to it in the MLflow UI, and the ``checkpoint`` it came from."""

    cfg: Any
    task: Any
    model: Any
    params: dict
    backend: Any
    metrics: dict = field(default_factory=dict)
    run_id: str | None = None
    link: str | None = None
    checkpoint: Path | None = None
    steps: int = 0

    def sample(self, n: int = 5, temperature: float | None = None, seed: int = 0, *, top_k: int | None = None,
               top_p: float | None = None, prime: str = "", greedy: bool = False) -> list[str]:
        """``n`` new sequences from a language model (``task=char_lm``, ``word_lm``, ``name_gen``...).

        ``temperature`` (0: greedy), ``top_k`` (draw among the k most likely tokens) and ``top_p`` (among the
        fewest most likely tokens holding that much probability) default to the run's task config;
        ``greedy=True`` is temperature 0 (the run's top-k and top-p then do not apply). ``prime``: a text
        every sample starts with and continues (for name_gen, the start of each class's names).
        """
        self._needs("sample")
        if problem := sampling_problem(n, seed, temperature, top_k=top_k, top_p=top_p, greedy=greedy, prime=prime,
                                       task=self.task):
            raise ConfigError(problem)
        return draw(self.task, self.model, self.params, self.backend.xp, n, seed, temperature, top_k=top_k,
                    top_p=top_p, prime=prime, greedy=greedy)

    def score(self, text: str) -> Score:
        """log P(``text``) under a language model, and each token's log-probability."""
        self._needs("score")
        return Score(*self.task.score(self.model, self.params, self.backend.xp, text))

    def predict(self, texts: list[str], seed: int = 0) -> list[str]:
        """What the logged model answers for each string: tags, a class, a date, or a new sample."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return []
        return self.task.predict_texts(self.model, self.params, self.backend.xp, list(texts),
                                       np.random.default_rng(seed))

    def _needs(self, what: str) -> None:
        if not hasattr(self.task, what):
            raise ConfigError(f"task={self.task.name} is not a language model, so it cannot {what}; "
                              f"{what} needs a language-model task such as task=char_lm or task=word_lm. "
                              "predict(texts) gives this task's answers.")

    def __repr__(self) -> str:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted(self.metrics.items())) or "(no metrics recorded)"
        where = self.link or (f"run {self.run_id}" if self.run_id else "not tracked")
        return (f"<seqfw.Trained task={self.task.name} cell={self.cfg.cell.name} topology={self.cfg.topology.name} "
                f"steps={self.steps}>\n{metrics}\n{where}")


def from_result(cfg, result) -> Trained:
    """The ``Trained`` of the run ``cfg`` configured, from what ``seqfw.runner.loop.fit`` returned."""
    s = result.setup
    return Trained(cfg, s.task, s.model, s.params, s.backend, dict(result.metrics), result.run_id, result.link,
                   result.checkpoint, result.steps)


def load(source: str | Path, tracking_uri: str | None = None) -> Trained:
    """The finished run ``source`` names (a checkpoint file, or an MLflow run id whose checkpoint is fetched
    from ``tracking_uri``, default as for training), rebuilt with its trained parameters."""
    from .serving import build_run, read_run

    cfg, ckpt, path = read_run(str(source), tracking_uri, "tracking_uri")
    setup = build_run(cfg, ckpt, path)
    state = ckpt["state"]
    run_id = str(state["run_id"]) if "run_id" in state else ""
    link = None
    if run_id and run_id == str(source):  # loaded from the store: it knows the run (a file alone may be offline)
        from .tracking import link_of

        link = link_of(run_id, tracking_uri)
    return Trained(cfg, setup.task, setup.model, setup.params, setup.backend, _metrics(state), run_id or None,
                   link, Path(path), ckpt["step"])


def _metrics(state: dict) -> dict:
    """The last evaluation's metrics a checkpoint carries ({} for one written before checkpoints had them)."""
    if "metrics" not in state:
        return {}
    try:
        found = json.loads(str(state["metrics"]))
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in found.items() if isinstance(v, (int, float))} if isinstance(found, dict) else {}
