"""Array backends: NumPy on the CPU, CuPy on a GPU.

This is the only module that imports CuPy. Engine code never branches on the
backend: it asks an array for its module (``xp = xp_of(x)``) and calls the
NumPy API on it, which CuPy mirrors.

Random numbers come from here too. Parameter initialisation draws on the host
from a seeded ``numpy.random.Generator`` so that the same seed gives the same
initial weights on either backend; run-time randomness (dropout masks) is
drawn on the device by ``Backend.random``.
"""
from __future__ import annotations

import ctypes
import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import SeqfwError, check_choice

Array = Any  # numpy.ndarray or cupy.ndarray

BACKENDS = ("numpy", "cupy")
DTYPES = ("float32", "float64")


class BackendError(SeqfwError, RuntimeError):
    """A backend was requested that cannot run here."""


def xp_of(x: Array):
    """The array module (numpy or cupy) that owns ``x``."""
    # cupy arrays carry their module as a type attribute; no cupy import needed.
    return np if isinstance(x, np.ndarray) else importlib.import_module(type(x).__module__.split(".")[0])


def to_host(x: Array) -> np.ndarray:
    """A NumPy copy (or view) of ``x``, whatever device it lives on."""
    return x if isinstance(x, np.ndarray) else x.get()


def _import_cupy():
    try:
        import cupy
    except ImportError as err:
        raise BackendError(
            "backend 'cupy' was selected but CuPy is not installed. Install the wheel that "
            "matches your CUDA driver, e.g. `pip install 'seqfw[gpu]'` (cupy-cuda12x) or "
            "`pip install 'seqfw[gpu-cuda13]'` (cupy-cuda13x), or choose backend 'numpy' "
            f"to run on the CPU. (import error: {err})"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken: CuPy raises its own types
        raise BackendError(
            "backend 'cupy' was selected and CuPy is installed, but no usable CUDA device "
            f"was found ({type(err).__name__}: {err}). Check the NVIDIA driver with "
            "`nvidia-smi`, or choose backend 'numpy' to run on the CPU."
        ) from None
    if count < 1:
        raise BackendError(
            "backend 'cupy' was selected but CUDA reports no GPU on this machine. "
            "Choose backend 'numpy' to run on the CPU."
        )
    return cupy


@dataclass
class Backend:
    """An array module with a default dtype and a seeded generator for run-time noise."""

    name: str
    xp: Any
    dtype: Any
    seed: int = 0
    _device_rng: Any = field(default=None, repr=False)

    def __post_init__(self):
        if self.name == "numpy":
            self._device_rng = np.random.default_rng(self.seed)
        else:
            self._device_rng = self.xp.random.default_rng(self.seed)

    def host_rng(self, seed: int | None = None) -> np.random.Generator:
        """A fresh host generator for parameter initialisation (same draws on every backend)."""
        return np.random.default_rng(self.seed if seed is None else seed)

    @property
    def device_rng(self):
        """The generator of run-time randomness (dropout masks); its state is checkpointed on NumPy."""
        return self._device_rng

    def random(self, shape) -> Array:
        """Uniform [0, 1) samples on the device, in the backend dtype."""
        return self._device_rng.random(shape, dtype=self.dtype)

    def asarray(self, x) -> Array:
        return self.xp.asarray(x, dtype=self.dtype)


def get_backend(name: str = "numpy", dtype: str = "float32", seed: int = 0) -> Backend:
    """The backend called ``name`` with default dtype ``dtype``.

    Never falls back: asking for ``cupy`` where it cannot run raises ``BackendError``
    saying what to install.
    """
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}.")
    check_choice("backend", "dtype", dtype, DTYPES)
    xp = np if name == "numpy" else _import_cupy()
    return Backend(name=name, xp=xp, dtype=np.dtype(dtype).type, seed=seed)


def available_memory(xp=np) -> int | None:
    """Bytes that new arrays of module ``xp`` can still take, or None if unknown: the device's free
    memory (plus what CuPy's pool holds free) for CuPy; for NumPy the host's ``MemAvailable``, capped
    by a cgroup limit (a container's ``MemAvailable`` is the whole machine's)."""
    if xp is not np:
        free, _ = xp.cuda.runtime.memGetInfo()
        return int(free) + int(xp.get_default_memory_pool().free_bytes())
    found = [room for room in (_meminfo_available(), _cgroup_room()) if room is not None]
    return max(0, min(found)) if found else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        try:  # no /proc (not Linux): free physical pages
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None


def _cgroup_room() -> int | None:
    """A cgroup's memory limit less what it uses (v2, then v1), counting its inactive page cache as free."""
    for root, limit, used, cache in (("/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file"),
                                     ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes",
                                      "total_inactive_file")):
        try:
            with open(f"{root}/{limit}") as a, open(f"{root}/{used}") as b, open(f"{root}/memory.stat") as c:
                stat = dict(line.split() for line in c)
                return int(a.read()) - int(b.read()) + int(stat.get(cache, 0))
        except (OSError, ValueError):  # no such cgroup, or "max": no limit
            continue
    return None


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        _import_cupy()
    except BackendError:
        return False
    return True


def keep_freed_memory() -> bool:
    """Let this process reuse the memory it frees instead of handing large blocks back to the system.

    glibc serves every allocation above a threshold (128 kB, raised as large blocks are freed, to at
    most 32 MB) with a fresh ``mmap`` and returns it on ``free``: a training step allocates the same
    large temporaries every step (the head's logits, the softmax buffer, the per-layer caches), and
    each came back as new pages, zeroed by the kernel, one page fault per 4 kB: 4,400 faults a step
    for the LSTM at (64,100,512), 1,300 at word level (measured), and ~5-10% of the step time, unevenly.
    With the thresholds raised the freed blocks stay in the heap and the next step reuses them (5-10
    faults a step). The cost, for the rest of the process: it keeps its peak memory instead of
    shrinking when arrays are freed. So the command line (``python -m seqfw``, a training process)
    and the benchmark call it; ``seqfw.run`` and library code do not, and a notebook may.

    Linux with glibc only; ``SEQFW_KEEP_MEMORY=0`` turns it off. glibc before 2.35 refuses a
    threshold above 32 MB: then blocks up to 32 MB are kept. Returns whether the setting took.
    """
    if os.environ.get("SEQFW_KEEP_MEMORY") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from malloc.h
    trimmed = bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    mapped = bool(mallopt(M_MMAP_THRESHOLD, 2**31 - 1)) or bool(mallopt(M_MMAP_THRESHOLD, 32 * 2**20))
    return trimmed and mapped


def scatter_add(target: Array, indices: Array, values: Array) -> None:
    """``target[indices] += values`` with repeated indices accumulated (an embedding's gradient)."""
    if isinstance(target, np.ndarray):
        from . import compiled  # imports nothing heavy until it compiles

        if not (compiled.available() and compiled.scatter_rows(target, indices, values)):
            np.add.at(target, indices, values)
    else:
        import cupyx  # the device path; only reached with cupy arrays

        cupyx.scatter_add(target, indices, values)
