"""The conformance kit: what every cell, built-in or plugin, must satisfy.

``check_cell(MyCell)`` runs it all; ``CellSuite`` runs each part as its own pytest test:

- ``check_shapes``: one step forward and backward by hand, every array the cell returns against
  its declared shape and the step's dtype. It runs first because NumPy broadcasts a (H,)
  gradient into an (H, H) weight without a word, and a wrong shape that does not broadcast
  surfaces later as an IndexError or as a gradient error blamed on another array. It takes
  milliseconds, so the plugin registry also runs it on every cell it loads.
- ``check_structure``: declarations, initial state and an unrolled sequence keep shapes and dtype.
- ``check_step_equals_unrolled``: stepping by hand equals the framework's loop.
- ``check_reference``: the step equals the author's plain transcription of the paper's
  equations (``check_cell(..., reference=step)``, ``CellSuite.reference``).
- ``check_gradients``: float64 central differences (``seqfw.engine.gradcheck``) in several
  set-ups; a failure names the set-up and lists every wrong array, with the worst entry as a
  multi-index and, for fused parameters that declare ``Param(..., blocks=...)``, its gate block.
- ``check_masks`` and ``check_backends_agree``.

Every contract violation raises ``CellCheckError``; an exception the cell itself raises
propagates as it is.
"""
from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

import numpy as np

from .backend import cupy_available, get_backend, to_host
from .cells.base import Outer
from .gradcheck import gradient_errors, network_gradients, param_blocks
from .recurrence import Bidirectional, Stacked, Unidirectional, unroll
from .tree import flatten, tree_map


class CellCheckError(AssertionError):
    """A cell broke the contract of ``seqfw.cells.Cell``; the message says which part and by how much."""


def _fail(cell, what: str) -> None:
    raise CellCheckError(f"{type(cell).__name__}: {what}")


# -- shapes ------------------------------------------------------------------------------------

# Distinct sizes, and distinct from G*H = 14, 21, 28 for G = 2, 3, 4: no wrong dimension can
# pass for a right one by coincidence.
SHAPE_B, SHAPE_D, SHAPE_H = 3, 5, 7


def check_shapes(make_cell: Callable[[int, int], object], xp=np, dtype=np.float64) -> None:
    """One step forward and backward of ``make_cell(5, 7)`` on a batch of 3, every returned array
    checked against its declared shape (exactly: no broadcasting) and ``dtype``.

    Checked: the output h (B, H); each field of the new state and of ``dstate_prev`` (B, H) and of
    the state's type; ``dx`` (or ``dxw`` under ``input_proj``) shaped like the step's input; ``grads``
    naming each parameter outside the input projection once, each shaped as declared (an
    ``Outer(a, b)`` as ``a.T @ b``, with a and b 2-D of B rows). Problems of one phase (forward,
    then backward) are reported together, one line each. Cheap by design (tiny arrays, one step):
    the plugin registry runs it on every cell at start-up. Contract violations raise
    ``CellCheckError``; whatever the cell itself raises propagates unchanged.
    """
    cell = make_cell(SHAPE_D, SHAPE_H)
    params = _declared_params(cell, xp, dtype)
    rng = np.random.default_rng(0)
    state = _random_state(cell, rng, xp, dtype)
    x = xp.asarray(rng.standard_normal((SHAPE_B, SHAPE_D)), dtype=dtype)
    inp = _step_input(cell, params, x)
    input_shape = tuple(inp.shape)  # before forward, which may overwrite xw in place
    h, new_state, cache = _returned(cell, "forward", cell.forward(params, inp, state), "(h, new_state, cache)")
    _raise_all(cell, [_array_problem("the output h", h, _bh(), "it must be (B, H) =", dtype),
                      *_state_problems("new state", new_state, type(state), dtype)])
    dh = xp.asarray(rng.standard_normal((SHAPE_B, SHAPE_H)), dtype=dtype)
    dstate = _random_state(cell, rng, xp, dtype)
    dinput, dprev, grads = _returned(cell, "backward", cell.backward(params, dh, dstate, cache),
                                     "(dx, dstate_prev, grads)")
    dname, iname = ("dxw", "xw") if cell.input_proj else ("dx", "x")
    _raise_all(cell, [_array_problem(dname, dinput, input_shape, f"the step's input {iname} is", dtype),
                      *_state_problems("dstate_prev", dprev, type(state), dtype),
                      *_grads_problems(cell, grads, dtype)])


def _bh() -> tuple:
    return (SHAPE_B, SHAPE_H)


def _raise_all(cell, problems: list) -> None:
    """One line per problem: a cell with two wrong arrays learns of both in one run."""
    problems = [p for p in problems if p]
    if problems:
        _fail(cell, "\n  ".join(problems))


def _returned(cell, method: str, out, form: str):
    """``out`` unpacked, or a contract message instead of the ValueError unpacking would raise."""
    if not (isinstance(out, tuple) and len(out) == 3):
        _fail(cell, f"{method} must return {form}, got {_kind(out)}")
    return out


def _kind(value) -> str:
    if getattr(value, "shape", None) is not None:
        return f"an array of shape {tuple(value.shape)}"
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name} of {len(value)}" if isinstance(value, tuple) else f"{article} {name}"


def _declared_params(cell, xp, dtype) -> dict:
    """The cell's parameters, which must come out exactly as ``param_specs`` declares them."""
    specs = cell.param_specs()
    params = cell.init_params(np.random.default_rng(0), xp, dtype)
    for name, spec in specs.items():
        got = params.get(name)
        if got is None or tuple(got.shape) != tuple(spec.shape):
            _fail(cell, f"init_params gave {name} as {None if got is None else tuple(got.shape)}, "
                        f"param_specs declares {tuple(spec.shape)}")
    return params


def _random_state(cell, rng, xp, dtype):
    """A state of the cell's own type with random (B, H) fields (zeros would hide missing terms)."""
    state = cell.initial_state(SHAPE_B, xp, dtype)
    if not (isinstance(state, tuple) and tuple(getattr(state, "_fields", ()))[:1] == ("h",)):
        _fail(cell, "initial_state must return a NamedTuple whose first field is h")
    _raise_all(cell, [_array_problem(f"initial state.{f}", a, _bh(), "it must be (B, H) =", dtype)
                      for f, a in zip(state._fields, state)])
    return type(state)(*(xp.asarray(rng.standard_normal(_bh()), dtype=dtype) for _ in state))


def _step_input(cell, params, x):
    """What ``forward`` receives: ``x @ W_x + b`` under ``input_proj``, else ``x`` itself."""
    if cell.input_proj:
        W_x, b = (params[k] for k in cell.input_proj)
        return x @ W_x + b
    return x


def _array_problem(what: str, value, expected: tuple, against: str, dtype) -> str | None:
    shape = getattr(value, "shape", None)
    if shape is None:
        return f"{what} is {_kind(value)}, not an array"
    if tuple(shape) != tuple(expected):
        return f"wrong shape: {what} is {tuple(shape)} but {against} {tuple(expected)}"
    if np.dtype(value.dtype) != np.dtype(dtype):
        return f"wrong dtype: {what} is {np.dtype(value.dtype).name} but the step runs in {np.dtype(dtype).name}"
    return None


def _state_problems(what: str, state, state_type: type, dtype) -> list:
    if type(state) is not state_type:
        return [f"{what} is {_kind(state)}, not a {state_type.__name__} like the state"]
    return [_array_problem(f"{what}.{f}", a, _bh(), "the state is", dtype) for f, a in zip(state._fields, state)]


def _grads_problems(cell, grads, dtype) -> list:
    """Every key a declared parameter outside the input projection, each present, each its shape."""
    if not isinstance(grads, dict):
        return [f"grads is {_kind(grads)}, not a dict of the parameters' gradients"]
    specs, proj = cell.param_specs(), tuple(cell.input_proj or ())
    listed = ", ".join(specs) + (f"; {proj[0]} and {proj[1]} come from the input projection" if proj else "")
    problems = []
    for name in grads:
        if name not in specs:
            problems.append(f"grads has {name!r}, which is not a parameter (parameters: {listed})")
        elif name in proj:
            problems.append(f"grads has {name!r}, which comes from the input projection: the framework "
                            f"computes it from dxw, so leave it out")
    needs = "every parameter except the input projection's " + ", ".join(proj) if proj else "every parameter"
    problems += [f"grads has no entry for {name!r} ({needs} needs one)"
                 for name in specs if name not in proj and name not in grads]
    for name, value in grads.items():
        if name in specs and name not in proj:
            problems.append(_grad_problem(name, value, tuple(specs[name].shape), dtype))
    return problems


def _grad_problem(name: str, value, expected: tuple, dtype) -> str | None:
    if not isinstance(value, Outer):
        return _array_problem(f"grads[{name!r}]", value, expected, "the parameter is", dtype)
    a, b = value
    sa, sb = getattr(a, "shape", None), getattr(b, "shape", None)
    if not all(s is not None and len(s) == 2 and s[0] == SHAPE_B for s in (sa, sb)):
        return (f"wrong shape: grads[{name!r}] is Outer(a {sa}, b {sb}): a and b must be 2-D "
                f"with B = {SHAPE_B} rows")
    if (sa[1], sb[1]) != expected:
        return (f"wrong shape: grads[{name!r}] is Outer(a {tuple(sa)}, b {tuple(sb)}), so a.T @ b is "
                f"{(sa[1], sb[1])}, but the parameter is {expected}")
    return (_array_problem(f"grads[{name!r}].a", a, sa, "", dtype)
            or _array_problem(f"grads[{name!r}].b", b, sb, "", dtype))


# -- structure, stepping, reference ------------------------------------------------------------

def check_structure(cell, xp=np, dtype=np.float32, batch: int = 3) -> None:
    """Declared parameters, initial state and one step keep their shapes, types and ``dtype``."""
    H, D = cell.hidden_size, cell.input_size
    specs = cell.param_specs()
    params = cell.init_params(np.random.default_rng(0), xp, dtype)
    if list(params) != list(specs):
        _fail(cell, f"init_params gave {list(params)}, param_specs declares {list(specs)}")
    for name, spec in specs.items():
        if tuple(params[name].shape) != tuple(spec.shape) or params[name].dtype != dtype:
            _fail(cell, f"parameter {name} is {params[name].shape} {params[name].dtype}, declared {spec.shape} {dtype}")
    if cell.input_proj and not all(k in params for k in cell.input_proj):
        _fail(cell, f"input_proj names {cell.input_proj} but the parameters are {list(params)}")
    state = cell.initial_state(batch, xp, dtype)
    if not (isinstance(state, tuple) and hasattr(state, "_fields") and state._fields[0] == "h"):
        _fail(cell, "initial_state must return a NamedTuple whose first field is h")
    if any(a.shape != (batch, H) or a.dtype != dtype for a in state):
        _fail(cell, f"initial_state must give ({batch}, {H}) arrays of the requested dtype {np.dtype(dtype).name}")
    x = xp.asarray(np.random.default_rng(1).standard_normal((4, batch, D)), dtype=dtype)
    ys, final, _ = unroll(cell, params, x, state)
    if ys.shape != (4, batch, H) or ys.dtype != dtype:
        _fail(cell, f"outputs are {ys.shape} {ys.dtype}, expected {(4, batch, H)} {dtype}")
    if type(final) is not type(state) or any(a.shape != (batch, H) or a.dtype != dtype for a in final):
        _fail(cell, "the state changed structure, shape or dtype over a step")
    if not all(bool(xp.isfinite(a).all()) for a in (ys, *final)):
        _fail(cell, "non-finite outputs from a random input")


def check_step_equals_unrolled(cell, T: int = 5, batch: int = 2) -> float:
    """Calling ``forward`` step by step gives what the framework's unrolled loop gives."""
    params = cell.init_params(np.random.default_rng(0), np, np.float64)
    x = np.random.default_rng(1).standard_normal((T, batch, cell.input_size))
    ys, final, _ = unroll(cell, params, x, cell.initial_state(batch, np, np.float64))
    state, worst = cell.initial_state(batch, np, np.float64), 0.0
    for t in range(T):
        h, state, _ = cell.forward(params, _step_input(cell, params, x[t]), state)
        worst = max(worst, float(np.abs(h - ys[t]).max()))
    worst = max([worst] + [float(np.abs(a - b).max()) for a, b in zip(state, final)])
    if worst > 1e-12:
        _fail(cell, f"one step at a time differs from the unrolled sequence by {worst:.3e}")
    return worst


REFERENCE_TOL = 1e-10


def check_reference(make_cell: Callable[[int, int], object], reference: Callable, steps: int = 3,
                    tol: float = REFERENCE_TOL) -> float:
    """The cell's step equals ``reference(params, x, state) -> (h, new_state)``, the author's plain
    transcription of the paper's equations, over ``steps`` steps. Returns the largest difference.

    ``reference`` gets copies of the cell's float64 NumPy parameters (fused, as ``param_specs``
    declares them), the raw input x (B, D) and the previous state (the cell's state NamedTuple),
    and returns the output h and the new state (a tuple in the state's field order, or a bare array
    for a one-field state). The kit projects x through ``input_proj`` itself, as the framework
    does. Parameters, inputs and the first state are random (B=3, D=5, H=7); each step continues
    from the cell's own state. An entry agrees when |cell - reference| <= tol * (1 + |reference|):
    a few float64 operations on O(1) numbers round far below 1e-10, any wrong term lands far above.
    Steps count from 1 in the message, which names the first step and field that differ.
    """
    check_shapes(make_cell)  # a wrong shape would broadcast in the comparison below
    cell = make_cell(SHAPE_D, SHAPE_H)
    rng = np.random.default_rng(3)
    params = _declared_params(cell, np, np.float64)
    state = _random_state(cell, rng, np, np.float64)
    worst = 0.0
    for step in range(1, steps + 1):
        x = rng.standard_normal((SHAPE_B, SHAPE_D))
        want_h, want_state = _reference_step(cell, reference, params, x, state)
        h, state, _ = cell.forward(params, _step_input(cell, params, x), state)
        pairs = [("h", h, want_h)] + [(f"new state.{f}", a, w) for f, a, w in zip(state._fields, state, want_state)]
        for what, got, want in pairs:
            worst = max(worst, _compare_to_reference(cell, step, steps, what, np.asarray(got), want, tol))
    return worst


def _reference_step(cell, reference, params, x, state):
    """Call ``reference`` on copies (neither side may see the other's in-place writes) and check its shapes."""
    out = reference({k: np.array(v) for k, v in params.items()}, x.copy(), type(state)(*(a.copy() for a in state)))
    if not (isinstance(out, tuple) and len(out) == 2):
        _fail(cell, f"reference must return (h, new_state), got {_kind(out)}")
    h, new = out
    new = new if isinstance(new, tuple) else (new,)
    if len(new) != len(state):
        _fail(cell, f"reference returned a state of {len(new)} arrays; the state has fields {', '.join(state._fields)}")
    for what, a in (("h", h), *zip(state._fields, new)):
        if np.shape(a) != _bh():
            _fail(cell, f"reference returned {what} of shape {np.shape(a)}, expected (B, H) = {_bh()}")
    return np.asarray(h, dtype=np.float64), [np.asarray(a, dtype=np.float64) for a in new]


def _compare_to_reference(cell, step: int, steps: int, what: str, got, want, tol: float) -> float:
    diff = np.abs(got - want)
    bad = ~(diff <= tol * (1 + np.abs(want)))  # ~(<=) so that a NaN counts as a difference
    if bad.any():
        index = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(diff, nan=np.inf), -1))), diff.shape)
        _fail(cell, f"the forward step differs from the reference at step {step} of {steps}: {what} differs by "
                    f"{diff[index]:.3e} at [{', '.join(str(int(i)) for i in index)}] "
                    f"(cell {got[index]:.6e} vs reference {want[index]:.6e}; tolerance {tol:.0e} * (1 + |reference|))")
    return float(diff.max())


# -- gradients and masks -----------------------------------------------------------------------

class GradientSetUp(NamedTuple):
    """One configuration ``check_gradients`` differentiates; its ``str`` is what a failure names."""

    bidirectional: bool
    layers: int
    lengths: tuple | None  # None: every sequence is full length
    bptt: int | None  # None: full BPTT

    def __str__(self) -> str:
        return ", ".join([
            "bidirectional" if self.bidirectional else "unidirectional",
            f"{self.layers} layer{'s' if self.layers > 1 else ''}",
            f"ragged batch (lengths {', '.join(map(str, self.lengths))})" if self.lengths else "equal lengths",
            f"truncated BPTT (windows of {self.bptt} steps)" if self.bptt else "full BPTT",
            "float64",
        ])

    def network(self, make_cell: Callable[[int, int], object], D: int, H: int) -> Stacked:
        def layer(d):
            if self.bidirectional:
                return Bidirectional(make_cell(d, H), make_cell(d, H))
            return Unidirectional(make_cell(d, H))

        width = 2 * H if self.bidirectional else H
        return Stacked([layer(D if i == 0 else width) for i in range(self.layers)])


# Simplest first, and one new ingredient each, so that the set-ups that fail say which ingredient
# the cell gets wrong (padded rows, window boundaries, the reverse direction and stacking).
GRADIENT_SETUPS = (
    GradientSetUp(False, 1, None, None),
    GradientSetUp(False, 1, (4, 2, 3), None),
    GradientSetUp(False, 1, None, 2),
    GradientSetUp(False, 1, (4, 2, 3), 2),
    GradientSetUp(True, 2, (4, 2, 3), None),
)


def check_gradients(make_cell: Callable[[int, int], object], tol: float = 1e-6) -> float:
    """Float64 central differences of every parameter, the inputs and the initial state in each of
    ``GRADIENT_SETUPS`` (T=4, B=3, D=2, H=3). Returns the largest relative error.

    Every set-up runs. A failure names the first failing set-up (in the order above) with every
    wrong array in it, one line each (``gradcheck.gradient_errors``: relative error, tolerance,
    worst entry as a multi-index with its gate block, analytic vs numeric), then the other failing
    set-ups by name only: which set-ups fail is itself a clue (only ragged ones: the padded rows;
    only truncated ones: the window boundaries).
    """
    check_shapes(make_cell)
    D, H, T, B = 2, 3, 4, 3
    failures, worst = [], 0.0
    for setup in GRADIENT_SETUPS:
        lines, err = _setup_gradient_errors(make_cell, setup, T, B, D, H, tol)
        worst = max(worst, err)
        if lines:
            failures.append((setup, lines))
    if failures:
        (setup, lines), rest = failures[0], failures[1:]
        message = f'gradients wrong in set-up "{setup}":\n  ' + "\n  ".join(lines)
        if len(rest) == len(GRADIENT_SETUPS) - 1:
            message += "\nalso wrong in every other set-up"
        elif rest:
            message += "\nalso wrong in set-ups: " + "; ".join(f'"{s}"' for s, _ in rest)
        _fail(make_cell(D, H), message)
    return worst


def _setup_gradient_errors(make_cell, setup: GradientSetUp, T: int, B: int, D: int, H: int, tol: float):
    net = setup.network(make_cell, D, H)
    params = net.init_params(np.random.default_rng(0), np, np.float64)
    x = np.random.default_rng(1).standard_normal((T, B, D))
    rng = np.random.default_rng(2)
    state0 = tree_map(lambda a: rng.standard_normal(a.shape), net.initial_state(B, np, np.float64))
    lengths = None if setup.lengths is None else np.array(setup.lengths)
    results = network_gradients(net, params, x, lengths, state0, setup.bptt)
    return gradient_errors(results, tol, param_blocks(net))


def check_masks(make_cell: Callable[[int, int], object]) -> None:
    """Padding (even loud garbage) changes no output, final state or gradient of the real steps."""
    check_shapes(make_cell)
    net = Stacked([Bidirectional(make_cell(2, 3), make_cell(2, 3))])
    params = net.init_params(np.random.default_rng(0), np, np.float64)
    rng = np.random.default_rng(1)
    lengths = np.array([4, 2])
    x = rng.standard_normal((4, 2, 2))
    x_pad = np.concatenate([x, 50 * rng.standard_normal((3, 2, 2))])
    dy = rng.standard_normal((4, 2, 6)) * (np.arange(4)[:, None] < lengths)[:, :, None]
    runs = []
    for xs, dys in ((x, dy), (x_pad, np.concatenate([dy, rng.standard_normal((3, 2, 6))]))):
        y, finals, cache = net.forward(params, xs, lengths)
        dx, _, grads, _ = net.backward(params, dys, None, cache)
        runs.append((y[:4], finals, dx[:4], grads))
    (a, b) = runs
    pairs = [("outputs", a[0], b[0]), ("inputs' gradient", a[2], b[2])]
    pairs += [(f"final state {k}", v, flatten(b[1])[k]) for k, v in flatten(a[1]).items()]
    pairs += [(f"gradient of {k}", v, flatten(b[3])[k]) for k, v in flatten(a[3]).items()]
    for what, u, v in pairs:
        if not np.allclose(u, v, rtol=1e-10, atol=1e-12):
            _fail(net.layers[0].cells["fwd"], f"padding changed the {what} (max diff {np.abs(u - v).max():.3e})")


# -- the whole kit -----------------------------------------------------------------------------

def check_cell(cell_cls, backends=("numpy", "cupy"), reference: Callable | None = None, **options) -> dict:
    """Run the whole conformance kit on ``cell_cls(input_size, hidden_size, **options)``.

    ``check_shapes`` runs first (and for every backend and dtype checked), then structure,
    step = unrolled, ``reference`` when given (see ``check_reference``), gradients, masks and,
    where a GPU is usable, CuPy against NumPy. Raises ``CellCheckError`` naming the first failing
    check (for gradients: the set-up and every wrong array). Returns a report: ``shapes`` ("ok"),
    ``structure`` (the backend/dtype pairs checked), ``step_vs_unrolled``, ``reference`` (the
    largest difference, None without a reference) and ``max_gradient_error``.
    """

    def make_cell(d, h):
        return cell_cls(d, h, **options)

    checked = []
    for name in backends:
        if name == "cupy" and not cupy_available():
            continue
        xp = get_backend(name).xp
        for dtype in (np.float32, np.float64):
            check_shapes(make_cell, xp, dtype)
            check_structure(make_cell(3, 4), xp, dtype)
            checked.append(f"{name}/{np.dtype(dtype).name}")
    step = check_step_equals_unrolled(make_cell(3, 4))
    ref = None if reference is None else check_reference(make_cell, reference)
    worst = check_gradients(make_cell)
    check_masks(make_cell)
    if any(c.startswith("cupy") for c in checked):
        check_backends_agree(make_cell)
    return {"shapes": "ok", "structure": checked, "step_vs_unrolled": step, "reference": ref,
            "max_gradient_error": worst}


class CellSuite:
    """Subclass in a plugin's tests (``class TestMyCell(CellSuite): cell_cls = MyCell``); pytest
    then runs each part of the kit as its own test. ``options`` are passed to the constructor.

    ``reference = staticmethod(step)`` (a plain function works too) adds the comparison with a
    transcription of the paper's step (``check_reference``); without it ``test_reference`` is
    skipped, saying so. Every test checks the shapes first, so that a wrong shape is reported as
    such by whichever test is run, not as an error it causes further on.
    """

    cell_cls: type = None
    options: dict = {}
    reference: Callable | None = None

    def _make(self, d, h):
        return self.cell_cls(d, h, **self.options)

    def _reference(self) -> Callable | None:
        """The class's ``reference`` as a plain function: a function assigned in a class body would
        otherwise come back bound to the test instance, with one argument too many."""
        ref = inspect.getattr_static(self, "reference", None)
        if isinstance(ref, staticmethod):
            return ref.__func__
        if isinstance(ref, classmethod):
            return ref.__get__(self, type(self))
        return ref

    def test_shapes(self):
        for dtype in (np.float64, np.float32):
            check_shapes(self._make, np, dtype)

    def test_structure(self):
        check_shapes(self._make)
        for dtype in (np.float32, np.float64):
            check_structure(self._make(3, 4), np, dtype)

    def test_step_equals_unrolled(self):
        check_shapes(self._make)
        check_step_equals_unrolled(self._make(3, 4))

    def test_reference(self):
        reference = self._reference()
        if reference is None:
            import pytest

            pytest.skip("set reference = staticmethod(step) to compare against your transcription of the equations")
        check_reference(self._make, reference)

    def test_gradients(self):
        check_gradients(self._make)

    def test_masks(self):
        check_masks(self._make)

    def test_cupy_agrees_with_numpy(self):
        if not cupy_available():
            import pytest

            pytest.skip("CuPy with a CUDA device is needed to compare backends")
        check_backends_agree(self._make)


def check_backends_agree(make_cell: Callable[[int, int], object], tol: float = 1e-5) -> float:
    """The same float32 parameters and inputs give the same outputs on NumPy and CuPy."""
    cell = make_cell(3, 4)
    params = cell.init_params(np.random.default_rng(0), np, np.float32)
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    cp = get_backend("cupy").xp
    ys, _, _ = unroll(cell, params, x, cell.initial_state(2, np, np.float32))
    ys_gpu, _, _ = unroll(cell, {k: cp.asarray(v) for k, v in params.items()}, cp.asarray(x),
                          cell.initial_state(2, cp, np.float32))
    diff = float(np.abs(to_host(ys_gpu) - ys).max())
    if diff > tol:
        _fail(cell, f"CuPy and NumPy outputs differ by {diff:.3e}")
    return diff
