"""Sample from, or score with, a finished language-model run.

    python -m seqfw.sample RUN_ID_OR_CHECKPOINT [-n 20] [--temperature 0.8] [--seed 0]
    python -m seqfw.sample RUN_ID_OR_CHECKPOINT --score "the value is returned ."

The checkpoint carries the run's resolved config, so the task (and its
vocabulary) and the model are rebuilt exactly; a run id is looked up in the
MLflow store (``--tracking-uri``, default as for training).
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from ..run.serving import load_run
from ..run.settings import ConfigError
from .main import guarded


def score_report(logp: float, per_token: list) -> str:
    rows = "\n".join(f"  {tok:<16} {lp:9.4f}" for tok, lp in per_token)
    return (f"P(sentence) = {math.exp(logp):.6g}   log P = {logp:.4f} nats over {len(per_token)} tokens "
            f"(perplexity {math.exp(-logp / len(per_token)):.2f})\n  token            log P\n{rows}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m seqfw.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("source", help="an MLflow run id or a checkpoint.npz path")
    p.add_argument("-n", type=int, default=20, help="how many samples")
    p.add_argument("--temperature", type=float, default=None, help="default: the run's task.temperature")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--score", metavar="SENTENCE", default=None,
                   help="print P(SENTENCE) and each token's log-probability instead of sampling")
    p.add_argument("--tracking-uri", default=None)
    args = p.parse_args(argv)
    return guarded(_sample, args)


def _sample(args) -> int:
    if args.n < 1:
        raise ConfigError(f"-n must be >= 1, got {args.n}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")
    if args.temperature is not None and not args.temperature > 0:
        raise ConfigError(f"--temperature must be > 0, got {args.temperature} (leave it out for the run's "
                          "task.temperature)")
    _, s = load_run(args.source, args.tracking_uri)
    task = s.task
    if not hasattr(task, "sample"):
        raise ConfigError(f"task={task.name} is not a language model; sampling and scoring need "
                          "task=char_lm or task=word_lm")
    if args.score is not None:
        print(score_report(*task.score(s.model, s.params, s.backend.xp, args.score)))
        return 0
    rng = np.random.default_rng(args.seed)
    for text in task.sample(s.model, s.params, s.backend.xp, args.n, rng, args.temperature):
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
