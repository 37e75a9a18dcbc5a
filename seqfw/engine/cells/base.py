"""What a cell is: parameter declarations, one time step forward, and its backward.

A cell author writes only math. The framework (``seqfw.engine.recurrence``) owns the
time loop, masks, directions, layers, batching, backends and dtypes.

The contract, for a cell with hidden size H and input size D, batch B:

- ``param_specs()`` -> ``{name: Param(shape, init)}``; a fused parameter (gates packed
  side by side along its last axis, e.g. ``W_x`` (D, G*H)) may name its blocks,
  ``Param(shape, init, blocks=("i", "f", "g", "o"))``, so that the conformance kit can
  say which gate a wrong gradient entry belongs to.
- ``init_params(be)`` (or ``init_params(rng, xp, dtype)``) and ``initial_state(batch, be)`` (or
  ``initial_state(batch, xp, dtype)``) come from this base class: the parameters drawn on the
  host from ``param_specs``, the state a NamedTuple of (B, H) zeros whose first field is the
  hidden output ``h`` (the framework reads it for the per-step gradient norms). Both are in the
  backend's dtype; there is no default dtype (``init_args``, ``state_args``). The framework
  always calls them in the three-argument form, so a cell that overrides them may keep it.
- ``forward(params, x, state) -> (h, state, cache)`` for one step.
- ``backward(params, dh, dstate, cache) -> (dx, dstate_prev, grads)``: ``dh`` is
  dL/dh for the step's output, ``dstate`` is dL/d(new state) flowing back from
  the next step; ``grads`` holds this step's contribution to every parameter
  except the input projection (the framework accumulates over time).

Every array has exactly its declared shape: ``dx`` that of the step's input, each field
of ``dstate_prev`` (B, H), each gradient its parameter's shape. NumPy would broadcast a
(H,) gradient into an (H, H) weight without a word, so the kit's ``check_shapes`` (which
the plugin registry also runs when it loads a cell) checks every one of them.

Fast path: a cell whose input enters through an affine map sets
``input_proj = ("W_x", "b")``. Its ``forward`` then receives ``xw = x @ W_x + b``
(B, G*H) instead of ``x``: the framework computes it for all time steps in one
GEMM, and its ``backward`` returns ``dxw`` in place of ``dx``, which the
framework reduces to ``dW_x``, ``db`` and ``dx`` in one GEMM each. ``xw`` is a
slice of a buffer the framework will not read again, so a cell may overwrite it
in place and keep it in its cache. Without ``input_proj`` the cell sees raw
``x`` (slower, but any math works).

A gradient of the form ``a.T @ b`` (a recurrent weight: ``W_h`` gets
``h_prev.T @ dgates`` at every step) may be returned as ``Outer(a, b)``: the time loop
keeps the factors and reduces all steps with one GEMM of inner size T*B instead of T
small ones. ``Outer(a, b).dense()`` is the array itself, for a caller stepping a cell by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np

from ..backend import Array, Backend, xp_of
from ..errors import DtypeError, check_count

Init = Callable[[np.random.Generator, tuple], np.ndarray]


@dataclass(frozen=True)
class Param:
    """A parameter declaration: its shape, how to draw its initial value (on the host) and,
    for a fused parameter, the names of its equal blocks along the last axis.

    ``blocks`` is only for messages: a gradient check that finds ``W_x[2, 9]`` wrong in a
    (D, 4H) LSTM weight says "block 'g', column 1 of it" instead of a bare column index.
    """

    shape: tuple
    init: Init
    blocks: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.blocks is None:
            return
        names = self.blocks
        # a bare string is the usual slip (("a") is "a"): refuse it rather than split it into letters
        if isinstance(names, str) or not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"Param blocks must be a non-empty tuple of names such as ('f', 'a'), got {names!r}")
        names = tuple(names)
        if len(set(names)) != len(names):
            raise ValueError(f"Param blocks must have distinct names, got {names!r}")
        shape = tuple(self.shape)
        if not shape or shape[-1] % len(names):
            raise ValueError(f"Param blocks {names!r}: {len(names)} equal blocks do not divide the last axis "
                             f"of shape {shape}")
        object.__setattr__(self, "blocks", names)


def uniform(scale: float) -> Init:
    """U(-scale, scale), PyTorch's recurrent default with scale = 1/sqrt(H)."""
    return lambda rng, shape: rng.uniform(-scale, scale, size=shape)


def zeros() -> Init:
    return lambda rng, shape: np.zeros(shape)


def blocks(*inits: Init) -> Init:
    """Initialise a fused (G*H,) vector block by block (e.g. a forget-gate bias of 1)."""

    def init(rng, shape):
        (n,) = shape
        size = n // len(inits)
        return np.concatenate([f(rng, (size,)) for f in inits])

    return init


def constant(value: float) -> Init:
    return lambda rng, shape: np.full(shape, value, dtype=float)


class Outer(NamedTuple):
    """A gradient ``a.T @ b`` left for the time loop to sum over all steps in one GEMM."""

    a: Array  # (B, K)
    b: Array  # (B, N)

    def dense(self) -> Array:
        """The (K, N) gradient itself."""
        return self.a.T @ self.b


def input_grad(d: Array, W: Array) -> Array:
    """``d @ W.T``, the gradient flowing back into the input of a product ``x @ W`` (a recurrent
    step's ``dL/dh<t-1> = δ W_hᵀ``), computed as ``(W @ d.T).T``: the same sum, in the orientation
    OpenBLAS runs ~25% faster when d has few rows (B = 64 against H = 512: docs/benchmarks.md).
    The result is a transposed (column-major) view; every consumer takes any strides."""
    return (W @ d.T).T


class HState(NamedTuple):
    """State of cells whose whole memory is the hidden output a<t>."""

    h: Array


class Cell:
    """Base class with the parts every cell shares; subclasses write the math."""

    input_proj: tuple[str, str] | None = ("W_x", "b")
    state_type: type = HState

    def __init__(self, input_size: int, hidden_size: int):
        self.input_size = check_count(type(self).__name__, "input_size", input_size)
        self.hidden_size = check_count(type(self).__name__, "hidden_size", hidden_size)

    # -- declarations -------------------------------------------------------------
    def param_specs(self) -> dict[str, Param]:
        raise NotImplementedError

    def init_params(self, rng, xp=None, dtype=None, *, seed: int | None = None) -> dict[str, Array]:
        """Draw every declared parameter on the host, then move it to the backend's module and dtype.

        ``init_params(be)`` (a ``Backend``: its ``host_rng(seed)``, ``xp`` and ``dtype``) or the
        old form ``init_params(rng, xp, dtype)``; see ``init_args``.
        """
        rng, xp, dtype = init_args(f"{type(self).__name__}.init_params", rng, xp, dtype, seed)
        out = {}
        for name, spec in self.param_specs().items():
            value = spec.init(rng, tuple(spec.shape))
            if value.shape != tuple(spec.shape):
                raise ValueError(f"{type(self).__name__}.{name}: initialiser gave {value.shape}, declared {spec.shape}")
            out[name] = xp.asarray(value, dtype=dtype)
        return out

    def initial_state(self, batch: int, xp=None, dtype=None):
        """The zero state: ``initial_state(batch, be)`` or ``initial_state(batch, xp, dtype)`` (``state_args``)."""
        xp, dtype = state_args(f"{type(self).__name__}.initial_state", xp, dtype)
        H = self.hidden_size
        return self.state_type(*(xp.zeros((batch, H), dtype=dtype) for _ in self.state_type._fields))

    # -- math ---------------------------------------------------------------------
    def forward(self, params: dict, x: Array, state) -> tuple[Array, Any, Any]:
        raise NotImplementedError

    def backward(self, params: dict, dh: Array, dstate, cache) -> tuple[Array, Any, dict]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size})"


def init_args(owner: str, rng, xp=None, dtype=None, seed: int | None = None) -> tuple:
    """``init_params``' two forms -> ``(host generator, array module, dtype)``.

    ``rng`` a ``Backend``: ``(be.host_rng(seed), be.xp, be.dtype)``; ``seed`` (None: the backend's
    seed) overrides. Else the old form: ``rng`` a ``numpy.random.Generator``, ``xp`` (NumPy when
    None) and ``dtype``, which has no default: a missing dtype raises ``DtypeError`` rather than
    silently meaning float32 on a float64 backend.
    """
    if isinstance(rng, Backend):
        if xp is not None or dtype is not None:
            raise TypeError(f"{owner}: give a backend alone (`init_params(be)`) or `(rng, xp, dtype)`, not both")
        return rng.host_rng(seed), rng.xp, rng.dtype
    if seed is not None:
        raise TypeError(f"{owner}: seed= goes with a backend (`init_params(be, seed=...)`); a generator is "
                        f"already seeded")
    if dtype is None:
        raise DtypeError(f"{owner}: no dtype given. Parameters are created in the backend's dtype: pass the "
                         f"backend, `net.init_params(be)` with `be = get_backend(..., dtype=...)`, or the "
                         f"dtype itself, `init_params(rng, xp, dtype=...)`.")
    return rng, (np if xp is None else xp), dtype


def state_args(owner: str, xp=None, dtype=None) -> tuple:
    """``initial_state``'s two forms -> ``(array module, dtype)``: a ``Backend`` gives its own; else
    ``xp`` (NumPy when None) and ``dtype``, which has no default (``DtypeError``, as ``init_args``)."""
    if isinstance(xp, Backend):
        if dtype is not None:
            raise TypeError(f"{owner}: give a backend alone (`initial_state(batch, be)`) or `(batch, xp, dtype)`, "
                            f"not both")
        return xp.xp, xp.dtype
    if dtype is None:
        raise DtypeError(f"{owner}: no dtype given. States are created in the backend's dtype: pass the "
                         f"backend, `net.initial_state(batch, be)` with `be = get_backend(..., dtype=...)`, or "
                         f"the dtype itself, `initial_state(batch, xp, dtype=...)`.")
    return (np if xp is None else xp), dtype


def sigmoid(x: Array, out: Array | None = None) -> Array:
    """Logistic function via tanh: exact, overflow-free, one transcendental per entry; in place with ``out``.

    The same formula as ``seqfw.engine.kernels.sigmoid_of``, which the built-in cells use inside
    their kernels; this one is for a cell's own in-place NumPy code."""
    xp = xp_of(x)
    out = xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out
