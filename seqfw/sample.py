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
import re
import sys
import tempfile
from pathlib import Path

import numpy as np


def load_run(source: str, tracking_uri: str | None = None):
    """(cfg, task, model, params, backend) of a checkpoint file or an MLflow run id."""
    from omegaconf import OmegaConf

    from .checkpoint import load_checkpoint, restore_params
    from .train import build

    path = Path(source)
    if not path.is_file():
        if not re.fullmatch(r"[0-9a-f]{32}", source):
            raise ValueError(f"{source!r}: no such checkpoint file, and not an MLflow run id (32 hex digits); "
                             "give a run's checkpoints/checkpoint.npz or its run id")
        from mlflow.tracking import MlflowClient

        from .tracking import resolve_uri

        uri = resolve_uri(tracking_uri)
        if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
            raise ValueError(f"run {source}: there is no MLflow store at {uri} (run from the directory that holds "
                             "mlflow.db, or set MLFLOW_TRACKING_URI / --tracking-uri)")
        try:
            path = Path(MlflowClient(uri).download_artifacts(source, "checkpoints/checkpoint.npz",
                                                              tempfile.mkdtemp(prefix="seqfw-")))
        except Exception as err:
            raise ValueError(f"{source!r} is neither a checkpoint file nor a run with a checkpoint in {uri} "
                             f"({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    ckpt = load_checkpoint(path)
    cfg = OmegaConf.create(ckpt["config"])
    be, task, model, params, _ = build(cfg)
    restore_params(params, ckpt["params"], be.xp)
    return cfg, task, model, params, be


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
    try:
        if args.n < 1:
            raise ValueError(f"-n must be >= 1, got {args.n}")
        _, task, model, params, be = load_run(args.source, args.tracking_uri)
        if not hasattr(task, "sample"):
            raise ValueError(f"task={task.name} is not a language model; sampling and scoring need "
                             "task=char_lm or task=word_lm")
        if args.score is not None:
            print(score_report(*task.score(model, params, be.xp, args.score)))
            return 0
        for text in task.sample(model, params, be.xp, args.n, np.random.default_rng(args.seed), args.temperature):
            print(text)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
