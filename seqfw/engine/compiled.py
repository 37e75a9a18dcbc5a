"""The compiled CPU executor: a cell's elementwise math as one Numba loop per call.

NumPy runs a kernel function (``seqfw.engine.kernels``) as written: one ufunc pass over the
(B, H) blocks per operation, a dozen or more passes per step. With Numba installed
(``pip install 'seqfw[fast]'``) the same function is compiled twice over:

- its body, unchanged, as a *scalar* function of one entry of every argument (``njit``; the
  helpers it closes over, σ and the like, are compiled with it), and
- a loop that calls it once per (row, column), reading each input and writing each output
  once — what ``cupy.fuse`` makes of the same body on a GPU.

Only functions that do not call ``tanh`` (or σ, written through it) are compiled: the backward
passes, pure arithmetic, where one pass instead of ~20 makes the LSTM's 4x faster at (64, 512).
A forward pass is all activations, and NumPy's tanh is vectorised (AVX-512 here) where compiled
code calls the C library's one number at a time (4x slower in float64) or needs an approximation
(a rational one, evaluated in the loop, was still 20% slower than NumPy in float32): measured,
so the forwards stay NumPy's. A compiled result agrees with NumPy's to ~1e-16 in float64
(exactly, for the embedding gradient).

The loops are cached on disk (Numba's cache directory, keyed by a digest of the code), so a
kernel compiles once per machine (~1-3 s), not once per process. The executor also owns the
embedding gradient's scatter-add (``np.add.at`` is ~30x slower at a 10,000-word vocabulary).
What this buys in a whole training step, measured, is in ``docs/benchmarks.md``.

Used automatically when Numba imports; ``SEQFW_NO_COMPILED=1`` runs the NumPy reference instead
(to compare, or to rule the compiler out). Numba is imported on the first kernel call, never by
``import seqfw`` (it takes ~0.5 s). Calls that do not fit the loop (not two-dimensional after
broadcasting, not float32/float64, not NumPy arrays) run the NumPy function unchanged.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import time
import warnings
from typing import Callable

import numpy as np

ENV_OFF = "SEQFW_NO_COMPILED"

_lock = threading.RLock()  # re-entered: compiling a kernel imports Numba
_numba = None
compile_seconds = 0.0  # time spent compiling in this process (reported by the benchmark)


def available() -> bool:
    """True when the compiled path runs: Numba imports and ``SEQFW_NO_COMPILED`` is not 1."""
    return os.environ.get(ENV_OFF) != "1" and _nb() is not None


def path_name() -> str:
    """Which CPU path runs the elementwise math, e.g. 'compiled (Numba 0.68.1)' or 'NumPy (...)'."""
    if os.environ.get(ENV_OFF) == "1":
        return f"NumPy ({ENV_OFF}=1)"
    if _nb() is None:
        return f"NumPy (no compiled path: {_import_error})"
    return f"compiled (Numba {_nb().__version__})"


_import_error = None


def _nb():
    """Numba, imported on the first kernel call (not by ``import seqfw``: it takes ~0.5 s), or None.

    Numba installed but failing to import (a NumPy it does not support yet, say) is said once, in a
    warning naming the error, and the NumPy path runs."""
    global _numba, _import_error
    if _numba is None and _import_error is None:
        with _lock:
            if _numba is None and _import_error is None:
                if importlib.util.find_spec("numba") is None:
                    _import_error = "Numba is not installed; pip install 'seqfw[fast]'"
                    return None
                try:
                    import numba
                except Exception as err:  # noqa: BLE001 - any failure means: run the NumPy path
                    _import_error = f"Numba is installed but does not import ({type(err).__name__}: {err})"
                    warnings.warn(f"seqfw: {_import_error}; the elementwise math runs on NumPy instead "
                                  f"(set {ENV_OFF}=1 to silence this, or fix the Numba install).", stacklevel=2)
                    return None
                _numba = numba
    return _numba


def _scalar(f: Callable, seen: dict) -> Callable:
    """``f`` compiled for scalars, with every plain function it closes over compiled the same way."""
    import types

    nb = _nb()
    if f in seen:
        return seen[f]
    cells = None
    if f.__closure__:
        cells = tuple(types.CellType(_scalar(c.cell_contents, seen) if isinstance(c.cell_contents, types.FunctionType)
                                     else c.cell_contents) for c in f.__closure__)
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, cells)
    g.__qualname__, g.__module__ = f.__qualname__, f.__module__
    # error_model="numpy": a division by zero gives inf/nan as in NumPy, and the loop can be vectorised
    seen[f] = nb.njit(error_model="numpy", inline="always")(g)
    return seen[f]


def _loop(core: Callable, kinds: tuple, n_out: int, label: str, fingerprint: str) -> Callable:
    """The per-entry loop over (B, N) outputs calling ``core``; input k is read as
    ``a[b, j]`` (kinds[k] == 2) or, a (N,) vector shared by the rows, as ``a[j]`` (kinds[k] == 1).

    Cached on disk (Numba's cache directory) under ``label``, keyed by ``fingerprint``: the code of the
    kernel and of everything it closes over, so that editing a cell's math recompiles it."""
    nb = _nb()
    ins = [f"a{k}" for k in range(len(kinds))]
    outs = [f"o{k}" for k in range(n_out)]
    call = ", ".join(f"{a}[b, j]" if kind == 2 else f"{a}[j]" for a, kind in zip(ins, kinds))
    store = "\n".join(f"            {o}[b, j] = r" + (f"[{k}]" if n_out > 1 else "") for k, o in enumerate(outs))
    source = (f"def loop({', '.join(outs + ins)}):\n"
              f"    for b in range(o0.shape[0]):\n"
              f"        for j in range(o0.shape[1]):\n"
              f"            r = core({call})\n{store}\n")
    namespace = {"core": core, "__name__": __name__}
    # compiled under this file's name: Numba's cache needs a source file to stamp and to place it by
    exec(compile(source, __file__, "exec"), namespace)
    loop = namespace["loop"]
    loop.__qualname__ = loop.__name__ = label
    # One thread, on purpose: split over the cores (prange) it was no faster in a training step on
    # 2 cores, and with Numba's OpenMP layer its waiting threads spun against OpenBLAS's and made the
    # matrix products 2-5x slower (docs/benchmarks.md).
    dispatcher = nb.njit(error_model="numpy")(loop)
    try:  # Numba's cache machinery is not public API: if it changes, compile per process instead
        dispatcher._cache = _content_cache()(loop, hashlib.sha256((fingerprint + source).encode()).hexdigest())
    except (ImportError, AttributeError, TypeError, RuntimeError, OSError) as err:
        warnings.warn(f"seqfw: compiled kernels are not cached on disk here ({type(err).__name__}: {err})",
                      stacklevel=2)
    return dispatcher


_ContentCache = None


def _content_cache():
    """Numba's per-function disk cache, keyed by a fingerprint of the code instead of the function's
    bytecode and pickled closure (a closure's pickle differs from one process to the next, so Numba's
    own key never matches for the functions built here). Numba's locator, index and data files as is."""
    global _ContentCache
    if _ContentCache is None:
        from numba.core.caching import FunctionCache

        class ContentCache(FunctionCache):
            def __init__(self, py_func, fingerprint: str):
                self._fingerprint = fingerprint
                super().__init__(py_func)

            def _index_key(self, sig, codegen):
                return sig, codegen.magic_tuple(), (self._fingerprint,)

        _ContentCache = ContentCache
    return _ContentCache


def fingerprint(f: Callable) -> str:
    """A digest of ``f``'s code and of the code and values it closes over (recursively)."""
    import types

    def code_parts(code) -> list:
        parts = [code.co_code.hex(), repr(code.co_names)]
        for const in code.co_consts:
            parts += code_parts(const) if isinstance(const, types.CodeType) else [repr(const)]
        return parts

    def parts(obj) -> list:
        obj = getattr(obj, "py_func", obj)  # a compiled function: its Python source function
        if not isinstance(obj, types.FunctionType):
            return [f"{type(obj).__name__}:{getattr(obj, '__name__', None) or repr(obj)}"]
        out = code_parts(obj.__code__)
        for cell in obj.__closure__ or ():
            out += parts(cell.cell_contents)
        return out

    return hashlib.sha256("\0".join(parts(f) + [_nb().__version__]).encode()).hexdigest()


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _operand(a: np.ndarray, shape: tuple) -> tuple[np.ndarray, int]:
    """``a`` as the loop reads it fastest: a C-contiguous (B, ·) array (kind 2) or an (N,) vector (kind 1).

    A column block of a wider C-contiguous array (a gate block of the (B, G*H) pre-activations) is
    read in place through a C-contiguous view of whole rows of its parent: the compiler vectorises
    unit-stride rows, and cannot when the row stride is a run-time value."""
    B, N = shape
    size = a.itemsize
    if a.shape == shape:
        if a.flags.c_contiguous:
            return a, 2
        row, col = a.strides
        if col == size and row % size == 0 and row >= N * size:
            return np.lib.stride_tricks.as_strided(a, (B, row // size), (row, size), writeable=False), 2
    elif a.shape[-1:] == (N,) and all(d == 1 for d in a.shape[:-1]):
        vector = a.reshape(N)
        return (vector if vector.flags.c_contiguous else np.ascontiguousarray(vector)), 1
    return np.ascontiguousarray(np.broadcast_to(a, shape)), 2


class CompiledKernel:
    """One kernel function, run by a compiled loop for float32/float64 (B, N) arrays, else by NumPy."""

    def __init__(self, family: str, name: str, build: Callable, reference: Callable):
        self.family, self.name, self.build, self.reference = family, name, build, reference
        self.n_in = reference.__code__.co_argcount
        sample = reference(*(np.ones((1, 1)) for _ in range(self.n_in)))
        self.n_out = len(sample) if isinstance(sample, tuple) else 1
        self._loops: dict = {}
        self.failed: str | None = None  # why Numba could not compile the body (it then runs on NumPy)

    def _compiled(self, dtype, kinds: tuple) -> Callable:
        found = self._loops.get((dtype, kinds))
        if found is None:
            with _lock:
                body = self.build(np.tanh)[self.name]
                label = f"{self.family}_{self.name}_{np.dtype(dtype).name}_{''.join(map(str, kinds))}"
                found = _Timed(_loop(_scalar(body, {}), kinds, self.n_out, label, fingerprint(body)))
                self._loops[dtype, kinds] = found
        return found

    def __call__(self, *args):
        if self.failed or len(args) != self.n_in or not all(type(a) is np.ndarray for a in args):
            return self.reference(*args)
        first = args[0]
        if all(a.shape == first.shape and a.dtype == first.dtype for a in args):  # the usual call: cheap checks
            dtype, shape = first.dtype, first.shape
        else:
            dtype, shape = np.result_type(*args), np.broadcast_shapes(*(a.shape for a in args))
        if dtype not in _FLOATS or len(shape) != 2:
            return self.reference(*args)
        operands = [_operand(a, shape) for a in args]
        loop = self._compiled(dtype.type, tuple(kind for _, kind in operands))
        outs = tuple(np.empty(shape, dtype) for _ in range(self.n_out))
        try:
            loop(*outs, *(a for a, _ in operands))
        except _nb().core.errors.NumbaError as err:
            if not loop.first:
                raise
            # a body Numba cannot compile for scalars (a plugin's, using array methods, say): NumPy runs it
            self.failed = f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"
            warnings.warn(f"seqfw: the compiled path cannot run {self.family}.{self.name} ({self.failed}); it "
                          f"runs on NumPy. A kernel body must be elementwise arithmetic and tanh only "
                          f"(docs/plugins.md).", stacklevel=2)
            return self.reference(*args)
        return outs if self.n_out > 1 else outs[0]


class _Timed:
    """A compiled function whose first call (when Numba compiles it) is added to ``compile_seconds``."""

    def __init__(self, function: Callable):
        self.function, self.first = function, True

    def __call__(self, *args):
        if not self.first:
            return self.function(*args)
        global compile_seconds
        start = time.perf_counter()
        with _lock:
            try:
                result = self.function(*args)
            finally:
                compile_seconds += time.perf_counter() - start
        self.first = False
        return result


def executor(family: str, build: Callable) -> dict:
    """The functions of ``build(tanh) -> {name: function}`` (a ``Kernels``' ``family`` name and factory):
    those that do not call ``tanh`` compiled (on their first call with a dtype and argument layout, or
    loaded from disk), those that do as NumPy runs them."""
    reference = build(np.tanh)
    uses_tanh = _calls_tanh(build)
    return {name: f if uses_tanh[name] else CompiledKernel(family, name, build, f) for name, f in reference.items()}


def _calls_tanh(build: Callable) -> dict:
    """{name: whether the function reaches the ``tanh`` it was built with}, through its closures."""
    import types

    probe = types.FunctionType((lambda x: x).__code__, {})  # a function that is no other

    def reaches(f, seen) -> bool:
        if f is probe:
            return True
        if not isinstance(f, types.FunctionType) or f in seen:
            return False
        seen.add(f)
        return any(reaches(cell.cell_contents, seen) for cell in f.__closure__ or ())

    try:
        return {name: reaches(f, set()) for name, f in build(probe).items()}
    except Exception:  # noqa: BLE001 - a factory that calls tanh while building: treat all as using it
        return {name: True for name in build(np.tanh)}


_scatter = None


def scatter_rows(target: np.ndarray, indices: np.ndarray, values: np.ndarray) -> bool:
    """``target[indices] += values`` for (V, E) ``target``, (N,) ``indices``, (N, E) ``values``, in
    index order as ``np.add.at`` (so the same floating-point sums); False when it does not apply."""
    global _scatter
    if (target.ndim != 2 or indices.ndim != 1 or values.shape != (indices.shape[0], target.shape[1])
            or target.dtype != values.dtype or target.dtype not in (np.float32, np.float64)
            or indices.dtype.kind not in "iu" or not target.flags.c_contiguous):
        return False
    if indices.size and (int(indices.min()) < -target.shape[0] or int(indices.max()) >= target.shape[0]):
        return False  # NumPy raises its own IndexError
    if _scatter is None:
        nb = _nb()

        def scatter(target, indices, values):
            rows = target.shape[0]
            for n in range(indices.shape[0]):
                i = indices[n]
                if i < 0:
                    i += rows
                for j in range(values.shape[1]):
                    target[i, j] += values[n, j]

        _scatter = _Timed(nb.njit(cache=True, error_model="numpy")(scatter))
    _scatter(target, indices, values)
    return True
