"""Sample from, or score with, a finished language-model run.

    python -m seqfw.sample RUN_ID_OR_CHECKPOINT [-n 20] [--temperature 0.8] [--seed 0]
    python -m seqfw.sample RUN_ID_OR_CHECKPOINT --temperature 0     (greedy: the most likely token each step)
    python -m seqfw.sample RUN_ID_OR_CHECKPOINT --score "the value is returned ."

The checkpoint carries the run's resolved config, so the task (and its
vocabulary) and the model are rebuilt exactly; a run id is looked up in the
MLflow store (``--tracking-uri``, default as for training).
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from ..plugins.registry import task_registry
from ..runner.serving import build_run, read_run
from ..runner.settings import ConfigError
from ..runner.trained import sampling_problem
from . import plain_plugin_warnings
from .main import guarded


FLAGS = {"n": "-n", "seed": "--seed", "temperature": "--temperature"}  # as the user typed them


def score_report(logp: float, per_token: list) -> str:
    rows = "\n".join(f"  {tok:<16} {lp:9.4f}" for tok, lp in per_token)
    return (f"P(sentence) = {math.exp(logp):.6g}   log P = {logp:.4f} nats over {len(per_token)} tokens "
            f"(perplexity {math.exp(-logp / len(per_token)):.2f})\n  token            log P\n{rows}")


def main(argv=None) -> int:
    plain_plugin_warnings()
    p = argparse.ArgumentParser(prog="python -m seqfw.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("source", help="an MLflow run id or a checkpoint.npz path")
    p.add_argument("-n", type=int, default=20, help="how many samples")
    p.add_argument("--temperature", type=float, default=None, metavar="T",
                   help="sample from softmax(logits / T): below 1 more conservative, above 1 more varied; 0 is "
                        "greedy, the most likely token at every step (the same text for every seed; <unk> and "
                        "<pad> still never appear). Default: the run's task.temperature")
    p.add_argument("--seed", type=int, default=0, help="seeds the draws (a whole number >= 0)")
    p.add_argument("--score", metavar="SENTENCE", default=None,
                   help="print P(SENTENCE) and each token's log-probability instead of sampling")
    p.add_argument("--tracking-uri", default=None)
    args = p.parse_args(argv)
    return guarded(_sample, args)


def _sample(args) -> int:
    if problem := sampling_problem(args.n, args.seed, args.temperature, FLAGS):
        raise ConfigError(problem)
    cfg, ckpt, path = read_run(args.source, args.tracking_uri)
    if not hasattr(task_registry()[cfg.task.name].cls, "sample"):  # known before the task is built
        raise ConfigError(f"task={cfg.task.name} is not a language model; sampling and scoring need "
                          "task=char_lm or task=word_lm")
    s = build_run(cfg, ckpt, path)
    task = s.task
    if args.score is not None:
        print(score_report(*task.score(s.model, s.params, s.backend.xp, args.score)))
        return 0
    rng = np.random.default_rng(args.seed)
    for text in task.sample(s.model, s.params, s.backend.xp, args.n, rng, args.temperature):
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
