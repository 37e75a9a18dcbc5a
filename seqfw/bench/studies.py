"""The benchmark's two side studies (``python -m seqfw.bench --batch1`` / ``--scaling``).

``batch1``: one sequence at a time, float64, against a min-char-rnn-style loop (one-hot
inputs, matrix-vector products per step, written here the way that classic script does it),
which is what a student would otherwise run; seqfw's model adds an embedding (E = H).

``scaling``: step time and peak memory of an LSTM training step against the sequence length
T, for full BPTT and truncated BPTT (window 50). Memory is NumPy's peak allocation during
the step, as tracemalloc sees it (NumPy reports its buffers there).
"""
from __future__ import annotations

import statistics
import time
import tracemalloc

import numpy as np

from ..engine.models import Batch, ManyToMany
from ..engine.optim import SGD
from ..engine.recurrence import truncated_bptt
from ..plugins.registry import recurrent


def min_char_rnn_step(H: int, V: int, T: int, rng, lr: float = 1e-3):
    """A vanilla tanh RNN trained one sequence at a time, min-char-rnn style (float64, one-hot).

    Each call is one step of SGD on one sequence (gradients clipped to [-5, 5]); returns the loss."""
    Wxh, Whh, Why = (rng.standard_normal(s) * 0.01 for s in ((H, V), (H, H), (V, H)))
    bh, by = np.zeros((H, 1)), np.zeros((V, 1))
    inputs, targets = rng.integers(0, V, T), rng.integers(0, V, T)

    def step():
        xs, hs, ps, loss = {}, {-1: np.zeros((H, 1))}, {}, 0.0
        for t in range(T):
            xs[t] = np.zeros((V, 1))
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
            y = Why @ hs[t] + by
            e = np.exp(y - y.max())
            ps[t] = e / e.sum()
            loss -= np.log(ps[t][targets[t], 0])
        dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
        dbh, dby, dhnext = np.zeros_like(bh), np.zeros_like(by), np.zeros_like(hs[0])
        for t in reversed(range(T)):
            dy = ps[t].copy()
            dy[targets[t]] -= 1
            dWhy += dy @ hs[t].T
            dby += dy
            dh = Why.T @ dy + dhnext
            draw = (1 - hs[t] * hs[t]) * dh
            dbh += draw
            dWxh += draw @ xs[t].T
            dWhh += draw @ hs[t - 1].T
            dhnext = Whh.T @ draw
        for p, d in ((Wxh, dWxh), (Whh, dWhh), (Why, dWhy), (bh, dbh), (by, dby)):
            p -= lr * np.clip(d, -5, 5)
        return loss

    return step


def seqfw_step(cell: str, B: int, T: int, H: int, V: int, rng, dtype=np.float32, bptt: int | None = None):
    model = ManyToMany(recurrent(cell, H, H), V, "softmax", V, H)
    params = model.init_params(rng, np, dtype)
    opt = SGD(params, lr=1e-3)
    batch = Batch(rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B)), None)

    def window(sl, lengths, state):
        loss, grads, finals, _ = model.loss_and_grads(params, batch.window(sl, lengths), state)
        return loss, grads, finals

    def step():
        if bptt is None:
            _, grads, _, _ = model.loss_and_grads(params, batch)
        else:
            _, grads, _ = truncated_bptt(window, T, bptt)
        opt.step(grads)

    return step


def _times(fn, repeats: int) -> list[float]:
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def batch1(pairs: int = 7, T: int = 25, H: int = 100, V: int = 65) -> dict:
    ours = seqfw_step("rnn", 1, T, H, V, np.random.default_rng(0), np.float64)
    ref = min_char_rnn_step(H, V, T, np.random.default_rng(0))
    t_ours, t_ref = [], []
    for _ in range(pairs):  # alternating, after the warm-up inside _times
        t_ours += _times(ours, 3)
        t_ref += _times(ref, 3)
    a, b = T / statistics.median(t_ours), T / statistics.median(t_ref)
    print(f"batch 1, rnn, (T,H,V)=({T},{H},{V}), float64: seqfw {a:,.0f} tok/s, min-char-rnn loop {b:,.0f} tok/s, "
          f"ratio {a / b:.2f}")
    return {"seqfw": a, "min_char_rnn": b, "ratio": a / b}


def scaling(lengths=(50, 100, 200, 500, 1000), window: int = 50, B: int = 32, H: int = 128, V: int = 65,
            repeats: int = 3, plot: str | None = None) -> list[dict]:
    print(f"lstm (B,H,V)=({B},{H},{V}) float32: step time and peak NumPy memory against T")
    print(f"{'T':>5} {'full ms':>9} {'full us/tok':>11} {'full MB':>8} {'tbptt ms':>9} {'tbptt us/tok':>12} {'tbptt MB':>8}")
    rows = []
    for T in lengths:
        row = {"T": T}
        for name, k in (("full", None), ("tbptt", window)):
            step = seqfw_step("lstm", B, T, H, V, np.random.default_rng(0), bptt=k)
            ms = statistics.median(_times(step, repeats)) * 1e3
            tracemalloc.start()
            step()
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            row[name] = {"ms": ms, "us_per_token": ms * 1e3 / (B * T), "peak_mb": peak}
        rows.append(row)
        f, w = row["full"], row["tbptt"]
        print(f"{T:5d} {f['ms']:9.1f} {f['us_per_token']:11.2f} {f['peak_mb']:8.1f} "
              f"{w['ms']:9.1f} {w['us_per_token']:12.2f} {w['peak_mb']:8.1f}", flush=True)
    if plot:
        _plot_scaling(rows, window, plot)
        print(f"curves: {plot}")
    return rows


def _plot_scaling(rows: list[dict], window: int, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = [r["T"] for r in rows]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, label in (("full", "full BPTT"), ("tbptt", f"truncated BPTT ({window})")):
        ax_t.plot(T, [r[name]["ms"] for r in rows], "o-", label=label)
        ax_m.plot(T, [r[name]["peak_mb"] for r in rows], "o-", label=label)
    ax_t.set(xlabel="sequence length T", ylabel="ms per training step", title="step time")
    ax_m.set(xlabel="sequence length T", ylabel="peak NumPy memory (MB)", title="memory")
    for ax in (ax_t, ax_m):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
