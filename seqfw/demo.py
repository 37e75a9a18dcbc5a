"""The engine end to end, with no configuration system: a character-level language model.

Trains any registered cell on the Zen of Python (shipped with every Python as
the ``this`` module, so nothing is downloaded), with truncated BPTT over
consecutive windows, Adam and global-norm clipping; prints the loss in bits
per character as it goes and ends with a sampled text. ``python -m seqfw --help``
lists the options.
"""
from __future__ import annotations

import argparse
import codecs
import contextlib
import io
import math
import sys
import time

import numpy as np

from .backend import BackendError, get_backend, to_host
from .optim import Adam, clip_by_global_norm
from .plugins import PluginError, cell_registry
from .topologies import ManyToMany, recurrent, truncated_bptt


def zen_of_python() -> str:
    with contextlib.redirect_stdout(io.StringIO()):
        import this  # prints the Zen on first import; we only want its text
    return codecs.decode(this.s, "rot13")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m seqfw", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cell", default="lstm", help=f"one of: {', '.join(sorted(cell_registry()))}")
    p.add_argument("--hidden", type=int, default=128, help="hidden size H")
    p.add_argument("--layers", type=int, default=1, help="stacked layers")
    p.add_argument("--steps", type=int, default=300, help="training steps (batches)")
    p.add_argument("--batch", type=int, default=16, help="sequences per batch")
    p.add_argument("--seq-len", type=int, default=64, help="characters per sequence")
    p.add_argument("--bptt", type=int, default=32, help="truncated BPTT window (>= seq-len: full BPTT)")
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--clip", type=float, default=5.0, help="global-norm clipping threshold")
    p.add_argument("--backend", default="numpy", help="numpy or cupy")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def sample(model, params, vocab, be, length: int, rng: np.random.Generator, temperature: float = 0.7) -> str:
    """Feed each sampled character back in (the course's sampling loop)."""
    idx = {c: i for i, c in enumerate(vocab)}
    token, state, out = idx["T"], None, ["T"]
    for _ in range(length):
        logits, state = model.logits(params, be.xp.asarray([[token]]), None, state)
        z = to_host(logits[0, 0]).astype(np.float64) / temperature
        p = np.exp(z - z.max())
        token = int(rng.choice(len(vocab), p=p / p.sum()))
        out.append(vocab[token])
    return "".join(out)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        for key in ("hidden", "layers", "steps", "batch", "seq_len", "bptt"):
            if getattr(args, key) < 1:
                raise ValueError(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
        be = get_backend(args.backend, "float32", args.seed)
        text = zen_of_python()
        vocab = sorted(set(text))
        data = np.array([vocab.index(c) for c in text])
        if args.seq_len + 1 >= len(data):
            raise ValueError(f"--seq-len must be below {len(data) - 1}, the corpus length")
        net = recurrent(args.cell, 32, args.hidden, num_layers=args.layers)
        model = ManyToMany(len(vocab), 32, net, len(vocab))
        params = model.init_params(be.host_rng(args.seed), be.xp, be.dtype)
        opt = Adam(params, lr=args.lr)
    except (ValueError, BackendError, PluginError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    rng = np.random.default_rng(args.seed)
    print(f"training a {args.cell} character model (H={args.hidden}, {args.layers} layer(s)) on the Zen of Python: "
          f"{len(text)} characters, vocabulary {len(vocab)}, backend {be.name}")
    start, T = time.perf_counter(), args.seq_len
    for step in range(1, args.steps + 1):
        starts = rng.integers(0, len(data) - T - 1, size=args.batch)
        window = np.stack([data[s : s + T + 1] for s in starts], axis=1)  # (T+1, B)
        x, y = be.xp.asarray(window[:-1]), be.xp.asarray(window[1:])

        def chunk(sl, lengths, state):
            loss, grads, finals, _ = model.loss_and_grads(params, x[sl], y[sl], lengths, state)
            return loss, grads, finals

        loss, grads, _ = truncated_bptt(chunk, T, args.bptt)
        norm = clip_by_global_norm(grads, args.clip)
        opt.step(grads)
        if step % max(1, args.steps // 10) == 0 or step == args.steps:
            bpc = loss / T / math.log(2)
            rate = step * args.batch * T / (time.perf_counter() - start)
            print(f"step {step:5d}  loss/char {loss / T:.3f}  bits/char {bpc:.3f}  grad-norm {norm:7.2f}  "
                  f"{rate:8.0f} chars/s", flush=True)
    print("\nsample:\n" + sample(model, params, vocab, be, 300, np.random.default_rng(args.seed)))
    return 0
