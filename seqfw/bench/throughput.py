"""Training-step throughput of the engine, side by side with PyTorch's LSTM/GRU/RNN.

    python -m seqfw.bench                      # rnn, gru, lstm at five (B,T,H,V) shapes (DEFAULT_SHAPES)
    python -m seqfw.bench --cells lstm --shapes 32,64,128,65 --pairs 7
    python -m seqfw.bench --backend cupy       # on the GPU, against PyTorch's cuDNN RNNs
    python -m seqfw.bench --batch1 --scaling   # + batch 1 vs a min-char-rnn loop, + time/memory vs T
    python -m seqfw.bench --compare-paths      # + seqfw on the NumPy path beside the compiled one (Numba)

One step = embedding lookup + recurrent layer + dense head + cross-entropy
(summed over time, mean over the batch) + backward + SGD update, float32, on
both sides. The two run alternately in one process after a warm-up, with the
same thread count; the table gives medians (min-max) of tokens/s and the ratio
seqfw / PyTorch. torch is only the reference: without it, seqfw is timed alone.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from ..engine import compiled
from ..engine.backend import BackendError, keep_freed_memory
from ..engine.models import Batch, ManyToMany
from ..engine.optim import SGD
from ..plugins.registry import recurrent

DEFAULT_SHAPES = ["1,25,100,65", "32,64,128,65", "64,100,256,65", "64,100,512,65", "16,200,512,10000"]
CELLS = {"rnn": {}, "gru": {"reset_after": True}, "lstm": {}}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def step_flops(cell: str, B: int, T: int, H: int, V: int) -> float:
    """Matrix-product FLOPs of one training step (embedding size = H): the input and recurrent
    products and the head, forward (1x) and backward (2x: the weight and the input gradients)."""
    G = GATES[cell]
    return 3 * 2.0 * T * B * (2 * H * G * H + H * V)


def _ours(cell: str, B: int, T: int, H: int, V: int, rng, xp=np):
    model = ManyToMany(recurrent(cell, H, H, **CELLS[cell]), V, "softmax", V, H)
    params = model.init_params(rng, xp, np.float32)
    opt = SGD(params, lr=1e-3)
    batch = Batch(xp.asarray(rng.integers(0, V, (T, B))), xp.asarray(rng.integers(0, V, (T, B))), None)
    sync = (lambda: None) if xp is np else xp.cuda.Device().synchronize

    def step():
        _, grads, _, _ = model.loss_and_grads(params, batch)
        opt.step(grads)
        sync()  # a GPU step is timed to its end, not to its last launch

    return step


def _torch(cell: str, B: int, T: int, H: int, V: int, rng, device: str = "cpu"):
    import torch

    rnn_cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
    emb, rnn, head = (m.to(device) for m in (torch.nn.Embedding(V, H), rnn_cls(H, H), torch.nn.Linear(H, V)))
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=1e-3)
    x = torch.as_tensor(rng.integers(0, V, (T, B)), device=device)
    y = torch.as_tensor(rng.integers(0, V, (T, B)), device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = rnn(emb(x))  # on CUDA: cuDNN's fused RNN kernels
        loss = torch.nn.functional.cross_entropy(head(out).reshape(T * B, V), y.reshape(-1), reduction="sum") / B
        loss.backward()
        opt.step()
        sync()

    return step


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown (pip install threadpoolctl to report it)"
    rows = [f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} threads={i.get('num_threads')}"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "BLAS: " + ("; ".join(rows) or "none found")


def gemm_peak(n: int = 2048, repeats: int = 10) -> float:
    """Best-of sgemm GFLOP/s for an n x n product, the ceiling the engine's GEMMs can reach.

    Measured in the same process as the table it scales (a 2-core machine's clock and its
    neighbours change from one hour to the next)."""
    a, b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
    a @ b
    return 2 * n**3 / min(_time(lambda: a @ b) for _ in range(repeats)) / 1e9


def gpu_gemm_peak(cp, n: int = 4096, repeats: int = 10) -> float:
    """Best-of sgemm TFLOP/s on the GPU (float32, TF32 off as CuPy's default)."""
    a, b = cp.ones((n, n), cp.float32), cp.ones((n, n), cp.float32)
    a @ b
    cp.cuda.Device().synchronize()

    def once():
        a @ b
        cp.cuda.Device().synchronize()

    return 2 * n**3 / min(_time(once) for _ in range(repeats)) / 1e12


def _devices(backend: str, torch):
    """(xp, torch device, torch or None, CPU sgemm peak or None), with the machine's line printed."""
    peak = None  # CPU only: the GEMM ceiling the fractions refer to
    if backend == "cupy":
        from ..engine.backend import get_backend

        xp = get_backend("cupy").xp  # a clear error without CuPy or a GPU
        device = "cuda"
        if torch is not None and not torch.cuda.is_available():
            torch = None
        name = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)["name"]
        name = name.decode() if isinstance(name, bytes) else name
        print(f"GPU {name}; CuPy {xp.__version__}; sgemm peak (4096^3) {gpu_gemm_peak(xp):.1f} TFLOP/s; "
              f"torch {torch.__version__ + ' cuDNN ' + str(torch.backends.cudnn.version()) if torch else 'without CUDA: seqfw alone'}")
        if torch is not None:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # float32 on both sides
    else:
        xp, device = np, "cpu"
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if torch is not None:
            torch.set_num_threads(threads)
        print(blas_info())
        kept = keep_freed_memory()  # as the trainer does: a step's large temporaries reuse freed pages
        print(f"elementwise math: {compiled.path_name()}; freed memory kept for reuse: {'yes' if kept else 'no'}")
        peak = max(gemm_peak() for _ in range(3))
        print(f"threads {threads}; sgemm peak (2048^3, best of 3x10) {peak:.0f} GFLOP/s; "
              f"torch {'%s' % torch.__version__ if torch else 'not installed: seqfw alone'}")
    return xp, device, torch, peak


def _pairs(cell: str, shape: tuple, xp, device: str, torch, pairs: int, warmup: int,
           compare: bool = False) -> tuple[list, list, list]:
    """Step times of seqfw, (if present) torch and, with ``compare``, seqfw on the NumPy path
    (``SEQFW_NO_COMPILED=1``: the same model, the other executor), alternating, after ``warmup`` steps of each."""
    rng = np.random.default_rng(0)
    ours = _ours(cell, *shape, rng, xp)
    ref = _torch(cell, *shape, rng, device) if torch is not None else None

    def reference_path():
        before = os.environ.get(compiled.ENV_OFF)
        os.environ[compiled.ENV_OFF] = "1"
        compiled.refresh()  # this step runs the NumPy functions
        try:
            ours()
        finally:
            if before is None:
                del os.environ[compiled.ENV_OFF]
            else:
                os.environ[compiled.ENV_OFF] = before
            compiled.refresh()

    for _ in range(warmup):
        ours()
        if ref:
            ref()
        if compare:
            reference_path()
    times = {"ours": [], "ref": [], "numpy": []}
    sides = [("ours", ours)] + ([("ref", ref)] if ref else []) + ([("numpy", reference_path)] if compare else [])
    for n in range(pairs):
        # with three sides, each takes each place in turn: a step runs slower right after torch's (its
        # threads spin on), which a fixed order would charge to one side only
        order = sides[n % len(sides):] + sides[:n % len(sides)] if compare else sides
        for name, fn in order:
            times[name].append(_time(fn))
    return times["ours"], times["ref"], times["numpy"]


def run(cells, shapes, pairs: int, warmup: int, backend: str = "numpy", compare: bool = False) -> list[dict]:
    try:
        import torch
    except ImportError:
        torch = None
    xp, device, torch, peak = _devices(backend, torch)
    compare = compare and xp is np and compiled.available()
    print(f"{'cell':5} {'B,T,H,V':>15} {'seqfw tok/s':>22} {'torch tok/s':>22} {'ratio':>6} {'GFLOP/s':>8}"
          + (f" {'of peak':>7}" if peak else "") + (f" {'NumPy path tok/s':>22} {'compiled/NumPy':>14}" if compare else ""))
    results = []
    for shape in shapes:
        B, T, H, V = (int(v) for v in shape.split(","))
        for cell in cells:
            t_ours, t_ref, t_numpy = _pairs(cell, (B, T, H, V), xp, device, torch, pairs, warmup, compare)
            row = {"cell": cell, "shape": (B, T, H, V), "backend": backend,
                   "path": compiled.path_name() if xp is np else "CuPy", "ours": [B * T / t for t in t_ours],
                   "torch": [B * T / t for t in t_ref], "gflops": step_flops(cell, B, T, H, V) / statistics.median(t_ours) / 1e9,
                   "peak": peak, "numpy_path": [B * T / t for t in t_numpy]}
            results.append(row)
            print(_format(row), flush=True)
    if peak:
        print(f"sgemm peak measured again after the table: {gemm_peak():.0f} GFLOP/s (the fractions use {peak:.0f})")
    if xp is np and compiled.compile_seconds:
        print(f"compiling or loading the kernels took {compiled.compile_seconds:.1f} s in this process (the first "
              f"run on a machine compiles; later runs load them from Numba's cache)")
    return results


def _format(row) -> str:
    def cell(v):
        return f"{statistics.median(v):8.0f} ({min(v):.0f}-{max(v):.0f})" if v else f"{'-':>22}"

    ratio = statistics.median(row["ours"]) / statistics.median(row["torch"]) if row["torch"] else float("nan")
    share = f" {row['gflops'] / row['peak']:7.0%}" if row.get("peak") else ""
    paths = ""
    if row.get("numpy_path"):
        paths = (f" {cell(row['numpy_path']):>22} "
                 f"{statistics.median(row['ours']) / statistics.median(row['numpy_path']):14.3f}")
    return (f"{row['cell']:5} {','.join(map(str, row['shape'])):>15} {cell(row['ours']):>22} {cell(row['torch']):>22} "
            f"{ratio:6.2f} {row['gflops']:8.1f}{share}{paths}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m seqfw.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", default="rnn,gru,lstm", help="comma-separated: rnn, gru (reset_after), lstm")
    p.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES, help="B,T,H,V (embedding size = H)")
    p.add_argument("--pairs", type=int, default=5, help="timed seqfw/torch pairs (>= 5 for a median)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compare-paths", action="store_true",
                   help="also time seqfw on the NumPy path (SEQFW_NO_COMPILED=1) in the same alternation, beside the "
                        "compiled one (needs Numba: pip install 'seqfw[fast]')")
    p.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                   help="cupy: seqfw on the GPU against PyTorch's cuDNN RNNs on the same GPU")
    p.add_argument("--batch1", action="store_true",
                   help="also: batch 1, float64, against a min-char-rnn-style loop")
    p.add_argument("--scaling", action="store_true",
                   help="also: step time and peak memory against T (50-1000), full and truncated BPTT")
    p.add_argument("--only", action="store_true", help="with --batch1/--scaling: skip the main table")
    p.add_argument("--plot", metavar="PNG", help="with --scaling: also draw the curves into this file")
    args = p.parse_args(argv)
    cells = args.cells.split(",")
    unknown = [c for c in cells if c not in CELLS]
    if unknown:
        p.error(f"unknown cell(s) {', '.join(unknown)}; choose from {', '.join(CELLS)}")
    try:
        if not args.only:
            if args.compare_paths and not compiled.available():
                p.exit(2, f"error: --compare-paths compares the compiled path with NumPy's, and the compiled path is "
                          f"off here: {compiled.path_name()}\n")
            run(cells, args.shapes, args.pairs, args.warmup, args.backend, args.compare_paths)
    except BackendError as err:
        p.exit(2, f"error: {err}\n")
    from . import studies

    if args.batch1:
        studies.batch1(args.pairs)
    if args.scaling:
        studies.scaling(plot=args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
