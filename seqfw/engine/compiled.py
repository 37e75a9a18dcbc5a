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

Used automatically when Numba is installed; ``SEQFW_NO_COMPILED=1`` runs the NumPy reference
instead (to compare, or to rule the compiler out). Numba is imported on the first compiled call,
never by ``import seqfw`` (it takes ~0.5 s). Calls that do not fit the loop run the NumPy function
unchanged: blocks under ``MIN_ENTRIES`` entries (batch 1), arrays that are not two-dimensional
after broadcasting, inputs that are not native float32/float64/integer/boolean arrays, and
functions whose NumPy result has another dtype or shape than the loop would write.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
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
    """True when the compiled path runs: Numba is installed, ``SEQFW_NO_COMPILED`` is not 1 and
    ``NUMBA_DISABLE_JIT`` is not set (Numba would then run the loops as Python, ~100x slower than NumPy).

    Decided once, at the first call (cells ask at every step, and reading the environment each time
    cost a batch-1 step 9%); ``refresh()`` decides again. Does not import Numba: that happens when a
    compiled function first runs."""
    return refresh() if _enabled is None else _enabled


def refresh() -> bool:
    """Read ``SEQFW_NO_COMPILED`` and ``NUMBA_DISABLE_JIT`` again (after changing them in this process)."""
    global _enabled
    installed = importlib.util.find_spec("numba") is not None
    _enabled = (installed and os.environ.get(ENV_OFF) != "1" and os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")
                and _import_error is None)
    return _enabled


def path_name() -> str:
    """Which CPU path runs the elementwise math, e.g. 'compiled (Numba 0.68.1)' or 'NumPy (why)': the
    decision the kernels follow (``available()``), not a second reading of the environment."""
    if available() and _nb() is not None:
        return f"compiled (Numba {_numba.__version__})"
    if _import_error is not None:
        return f"NumPy (no compiled path: {_import_error})"
    if importlib.util.find_spec("numba") is None:
        return "NumPy (no compiled path: Numba is not installed; pip install 'seqfw[fast]')"
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return "NumPy (NUMBA_DISABLE_JIT is set)"
    return f"NumPy ({ENV_OFF}=1)" if os.environ.get(ENV_OFF) == "1" else "NumPy"


_import_error = None
_enabled = None  # available()'s answer, decided on first use


def _nb():
    """Numba, imported on the first kernel call (not by ``import seqfw``: it takes ~0.5 s), or None.

    Numba installed but failing to import (a NumPy it does not support yet, say) is said once, in a
    warning naming the error, and the NumPy path runs."""
    global _numba, _import_error, _enabled
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
                    _enabled = False
                    warnings.warn(f"seqfw: {_import_error}; the elementwise math runs on NumPy instead "
                                  f"(set {ENV_OFF}=1 to silence this, or fix the Numba install).", stacklevel=2)
                    return None
                _numba = numba
    return _numba


def _scalar(f: Callable, seen: dict) -> Callable:
    """``f`` compiled for scalars, with every plain function it closes over or calls by a module-level
    name compiled the same way (σ, a helper)."""
    import types

    nb = _nb()
    if f in seen:
        return seen[f]
    cells = None
    if f.__closure__:
        cells = tuple(types.CellType(_scalar(c.cell_contents, seen) if isinstance(c.cell_contents, types.FunctionType)
                                     else c.cell_contents) for c in f.__closure__)
    helpers = {name: f.__globals__[name] for name in _names(f.__code__)
               if isinstance(f.__globals__.get(name), types.FunctionType)}
    namespace = {**f.__globals__, **{name: _scalar(h, seen) for name, h in helpers.items()}} if helpers else f.__globals__
    g = types.FunctionType(f.__code__, namespace, f.__name__, f.__defaults__, cells)
    g.__qualname__, g.__module__ = f.__qualname__, f.__module__
    # error_model="numpy": a division by zero gives inf/nan as in NumPy, and the loop can be vectorised
    seen[f] = nb.njit(error_model="numpy", inline="always")(g)
    return seen[f]


def _names(code) -> set:
    """The global names ``code`` (and the code nested in it) reads."""
    import types

    found = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const)
    return found


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
    """A digest of ``f``'s code and of everything its compiled form depends on: the code and values it
    closes over, the module-level names it reads (a constant, a helper function) and its defaults,
    recursively. Numba freezes all of these into the machine code, so all of them key the disk cache."""
    import types

    seen: set = set()

    def code_parts(code) -> list:
        parts = [code.co_code.hex(), repr(code.co_names)]
        for const in code.co_consts:
            parts += code_parts(const) if isinstance(const, types.CodeType) else [repr(const)]
        return parts

    def parts(obj) -> list:
        obj = getattr(obj, "py_func", obj)  # a compiled function: its Python source function
        if isinstance(obj, types.ModuleType):
            return [f"module:{obj.__name__}"]
        if not isinstance(obj, types.FunctionType):
            return [f"{type(obj).__name__}:{getattr(obj, '__name__', None) or repr(obj)}"]
        if id(obj) in seen:
            return [f"seen:{obj.__qualname__}"]
        seen.add(id(obj))
        out = code_parts(obj.__code__)
        for cell in obj.__closure__ or ():
            out += parts(cell.cell_contents)
        for value in (*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()):
            out += parts(value)
        for name in sorted(_names(obj.__code__)):
            if name in obj.__globals__:
                out += [f"global:{name}", *parts(obj.__globals__[name])]
        return out

    return hashlib.sha256("\0".join(parts(f) + [_nb().__version__]).encode()).hexdigest()


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Below this many entries per block the compiled call's own cost (checks, layouts, Numba's dispatch of
# ~10 arrays) is about what it saves: at 1 x 100 the GRU's backward took 23 us compiled against 19 in
# NumPy (the LSTM's 27 against 32); at 32 x 128 the LSTM's took 34 us against 69.
MIN_ENTRIES = 2048
# what a loop reads: native floats, integers and booleans (float16 and byte-swapped arrays: NumPy)
_INPUTS = frozenset((*_FLOATS, *(np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                                        np.uint16, np.uint32, np.uint64))))


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
    """One kernel function, run by a compiled loop for float32/float64 (B, N) arrays, else by NumPy.

    A loop is made per (input dtypes, layouts) and used only where it returns what NumPy would: every
    output of the inputs' float dtype and of the full (B, N) shape (a mask output, or one that
    depends on a vector alone, runs on NumPy). If Numba cannot compile it, that is said once and
    those calls run on NumPy."""

    def __init__(self, family: str, name: str, build: Callable, reference: Callable):
        self.family, self.name, self.build, self.reference = family, name, build, reference
        self.n_in = reference.__code__.co_argcount
        self._loops: dict = {}  # (dtypes, kinds) -> a _Timed loop, or None: NumPy runs those calls
        self.failed: str | None = None  # the first reason Numba could not compile the body
        self.n_out = 0  # known once NumPy has run it on small arrays (_numpy_agrees)

    def _loop_for(self, dtypes: tuple, kinds: tuple):
        key = (dtypes, kinds)
        if key in self._loops:
            return self._loops[key]
        with _lock:
            if key not in self._loops:
                self._loops[key] = self._make(dtypes, kinds)
        return self._loops[key]

    def _make(self, dtypes: tuple, kinds: tuple):
        nb = _nb()
        if nb is None or not self._numpy_agrees(dtypes, kinds):
            return None
        body = self.build(np.tanh)[self.name]
        label = re.sub(r"\W", "_", f"{self.family}_{self.name}_{'_'.join(np.dtype(d).name for d in dtypes)}_"
                                   f"{''.join(map(str, kinds))}")
        try:
            return _Timed(_loop(_scalar(body, {}), kinds, self.n_out, label, fingerprint(body)))
        except Exception as err:  # noqa: BLE001 - anything Numba refuses: this body runs on NumPy
            self._refused(err)
            return None

    def _numpy_agrees(self, dtypes: tuple, kinds: tuple) -> bool:
        """Whether NumPy's own result on small arrays of these dtypes and layouts is what a loop writes."""
        args = [np.ones((2, 3), d) if k == 2 else np.ones(3, d) for d, k in zip(dtypes, kinds)]
        try:
            with np.errstate(all="ignore"):
                out = self.reference(*args)
        except Exception:  # noqa: BLE001 - the reference itself refuses these: let it say so on the real call
            return False
        outs = out if isinstance(out, tuple) else (out,)
        self.n_out = len(outs)
        want = np.result_type(*dtypes)
        return all(isinstance(o, np.ndarray) and o.shape == (2, 3) and o.dtype == want for o in outs)

    def _refused(self, err: Exception) -> None:
        if self.failed is None:
            self.failed = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}"
            warnings.warn(f"seqfw: the compiled path cannot run {self.family}.{self.name} ({self.failed}); it "
                          f"runs on NumPy. A kernel body must be elementwise arithmetic and tanh only "
                          f"(docs/plugins.md).", stacklevel=3)

    def __call__(self, *args):
        first = args[0] if args else None
        if type(first) is np.ndarray and first.ndim == 2 and first.size < MIN_ENTRIES:
            return self.reference(*args)  # a small block (batch 1): checked first, as it is most of such a step
        if len(args) != self.n_in or not all(type(a) is np.ndarray and a.dtype in _INPUTS for a in args):
            return self.reference(*args)
        if all(a.shape == first.shape and a.dtype == first.dtype for a in args):  # the usual call: cheap checks
            dtype, shape = first.dtype, first.shape
        else:
            dtype, shape = np.result_type(*args), np.broadcast_shapes(*(a.shape for a in args))
        if dtype not in _FLOATS or len(shape) != 2 or shape[0] * shape[1] < MIN_ENTRIES:
            return self.reference(*args)
        operands = [_operand(a, shape) for a in args]
        loop = self._loop_for(tuple(a.dtype for a in args), tuple(kind for _, kind in operands))
        if loop is None:
            return self.reference(*args)
        outs = tuple(np.empty(shape, dtype) for _ in range(self.n_out))
        try:
            loop(*outs, *(a for a, _ in operands))
        except Exception as err:  # noqa: BLE001 - compiling on this first call failed: NumPy runs it
            if not loop.first:
                raise
            self._loops[tuple(a.dtype for a in args), tuple(kind for _, kind in operands)] = None
            self._refused(err)
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
        with _lock:
            if not self.first:  # another thread compiled it while this one waited
                return self.function(*args)
            start = time.perf_counter()
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
        reachable = [cell.cell_contents for cell in f.__closure__ or ()]
        reachable += [*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).values()]
        return any(reaches(value, seen) for value in reachable)

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
    if not values.dtype.isnative or not target.dtype.isnative:
        return False
    indices = indices.astype(np.intp, copy=False)  # one compiled signature; uint64 would not mix with int64
    if _scatter is None:
        nb = _nb()
        if nb is None:
            return False

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
