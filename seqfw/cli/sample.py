"""Sample from, or score with, a finished language-model run.

    python -m seqfw.sample RUN_ID_OR_CHECKPOINT [-n 20] [--temperature 0.8] [--seed 0]
    python -m seqfw.sample RUN_ID_OR_CHECKPOINT --greedy          (the most likely token each step; --temperature 0)
    python -m seqfw.sample RUN_ID_OR_CHECKPOINT --top-k 5 --prime Mar    (names that start "Mar", 5 likeliest each step)
    python -m seqfw.sample RUN_ID_OR_CHECKPOINT --top-p 0.9       (nucleus sampling)
    python -m seqfw.sample RUN_ID_OR_CHECKPOINT --score "the value is returned ."

The checkpoint carries the run's resolved config, so the task (and its
vocabulary) and the model are rebuilt exactly; a run id is looked up in the
MLflow store (``--tracking-uri``, default as for training). The order of the
controls at each step is in ``seqfw.tasks.sampling``.
"""
from __future__ import annotations

import argparse
import math

from ..plugins.registry import task_registry
from ..runner.serving import build_run, read_run
from ..runner.settings import ConfigError
from ..runner.trained import draw, sampling_problem
from . import plain_plugin_warnings
from .main import guarded


FLAGS = {"n": "-n", "seed": "--seed", "temperature": "--temperature", "top_k": "--top-k", "top_p": "--top-p",
         "greedy": "--greedy", "prime": "--prime"}  # as the user typed them


def number(text: str) -> int | float:
    """A whole number as an int, anything else numeric as a float (refused with the flag's name later)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


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
    p.add_argument("--greedy", action="store_true",
                   help="greedy decoding: the most likely token at every step, as --temperature 0; the run's "
                        "task.top_k and task.top_p then do not apply")
    p.add_argument("--top-k", type=number, default=None, metavar="K",
                   help="draw each token among the K most likely (a whole number >= 1; 1 is greedy). Default: "
                        "the run's task.top_k (null: no limit)")
    p.add_argument("--top-p", type=float, default=None, metavar="P",
                   help="nucleus sampling: draw each token among the fewest most likely ones whose probabilities "
                        "sum to at least P (in (0, 1]; the most likely one always; 1 keeps all), after --top-k. "
                        "Default: the run's task.top_p (null: no limit)")
    p.add_argument("--prime", metavar="TEXT", default=None,
                   help="a prefix every sample starts with and continues (the model reads it first); for "
                        "name_gen, the start of each class's names. Its symbols or words must be in the "
                        "model's vocabulary")
    p.add_argument("--seed", type=int, default=0, help="seeds the draws (a whole number >= 0)")
    p.add_argument("--score", metavar="SENTENCE", default=None,
                   help="print P(SENTENCE) and each token's log-probability instead of sampling (no sampling "
                        "flag then applies)")
    p.add_argument("--tracking-uri", default=None)
    args = p.parse_args(argv)
    return guarded(_sample, args)


def _sample(args) -> int:
    controls = {"top_k": args.top_k, "top_p": args.top_p, "greedy": args.greedy, "prime": args.prime}
    if args.score is not None:
        given = [FLAGS[k] for k, v in (("prime", args.prime), ("top_k", args.top_k), ("top_p", args.top_p),
                                       ("greedy", args.greedy or None), ("temperature", args.temperature))
                 if v is not None and v != ""]
        if given:
            one = len(given) == 1
            raise ConfigError(f"--score scores a sentence and samples nothing; {', '.join(given)} "
                              f"{'does' if one else 'do'} not apply (leave {'it' if one else 'them'} out)")
    if problem := sampling_problem(args.n, args.seed, args.temperature, FLAGS, **controls):
        raise ConfigError(problem)
    cfg, ckpt, path = read_run(args.source, args.tracking_uri)
    if not hasattr(task_registry()[cfg.task.name].cls, "sample"):  # known before the task is built
        raise ConfigError(f"task={cfg.task.name} is not a language model; sampling and scoring need "
                          "task=char_lm, word_lm, name_gen or minimal_pairs")
    s = build_run(cfg, ckpt, path)
    task = s.task
    if args.score is not None:
        print(score_report(*task.score(s.model, s.params, s.backend.xp, args.score)))
        return 0
    if problem := sampling_problem(args.n, args.seed, args.temperature, FLAGS, **controls, task=task):
        raise ConfigError(problem)  # what only the run knows: its vocabulary, whether it samples greedily
    for text in draw(task, s.model, s.params, s.backend.xp, args.n, args.seed, args.temperature, **controls):
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
