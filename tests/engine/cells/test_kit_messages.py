"""The conformance kit's messages point at the bug: deliberately broken cells, and what the kit says.

Each broken cell is a built-in cell with one thing wrong. The shape messages are compared whole
(the kit builds the cell with B=3, D=5, H=7); gradient and reference messages are compared whole
except for the measured numbers.
"""
import re

import numpy as np
import pytest

from seqfw.cells import GRUCell, GRUSimpleCell, HState, LSTMCell, LSTMState, Outer, Param, RNNCell, uniform
from seqfw.testing import (
    CellCheckError, CellSuite, assert_gradients_close, check_cell, check_gradients, check_reference, check_shapes,
    gradient_errors,
)

NUM = r"-?\d\.\d+e[-+]\d+"  # a measured number as the kit formats it


def _message(check, *args) -> str:
    with pytest.raises(CellCheckError) as caught:
        check(*args)
    return str(caught.value)


def _suite(cell_cls, reference=None):
    """A ``CellSuite`` subclass as a plugin's test module would write it."""
    return type(f"Test{cell_cls.__name__}", (CellSuite,), {"cell_cls": cell_cls, "reference": reference})()


# -- (a)-(d): shapes ----------------------------------------------------------------------------

class _VectorWh(RNNCell):
    """Returns dW_h summed to (H,): NumPy would broadcast it into the (H, H) weight and train on."""

    def backward(self, params, da, dstate, cache):
        dz, dprev, grads = super().backward(params, da, dstate, cache)
        return dz, dprev, {"W_h": grads["W_h"].dense().sum(axis=0)}


class _RowStateGradient(RNNCell):
    """dstate_prev summed over the batch to (1, H)."""

    def backward(self, params, da, dstate, cache):
        dz, dprev, grads = super().backward(params, da, dstate, cache)
        return dz, HState(dprev.h.sum(axis=0, keepdims=True)), grads


class _NarrowDxw(GRUSimpleCell):
    """dxw only for the first gate block: (B, H) for the (B, 2H) projected input."""

    def backward(self, params, dc, dstate, cache):
        dg, dprev, grads = super().backward(params, dc, dstate, cache)
        return dg[:, : self.hidden_size], dprev, grads


class _RenamedGradient(RNNCell):
    """W_h's gradient returned under a name the cell does not declare."""

    def backward(self, params, da, dstate, cache):
        dz, dprev, grads = super().backward(params, da, dstate, cache)
        return dz, dprev, {"Q": grads["W_h"]}


W_H_MESSAGE = "_VectorWh: wrong shape: grads['W_h'] is (7,) but the parameter is (7, 7)"


def test_a_vector_gradient_for_a_matrix_is_named_by_check_shapes():
    assert _message(check_shapes, _VectorWh) == W_H_MESSAGE


def test_a_vector_gradient_for_a_matrix_is_named_by_check_cell_before_anything_else():
    assert _message(check_cell, _VectorWh) == W_H_MESSAGE


def test_a_vector_gradient_for_a_matrix_is_named_by_the_suite():
    suite = _suite(_VectorWh)
    assert _message(suite.test_shapes) == W_H_MESSAGE
    # the other tests report the cause too, not an error it leads to further on
    for test in (suite.test_structure, suite.test_step_equals_unrolled, suite.test_gradients, suite.test_masks):
        assert _message(test) == W_H_MESSAGE


def test_a_state_gradient_of_one_row():
    assert _message(check_shapes, _RowStateGradient) == (
        "_RowStateGradient: wrong shape: dstate_prev.h is (1, 7) but the state is (3, 7)")
    assert _message(check_cell, _RowStateGradient).startswith("_RowStateGradient: wrong shape: dstate_prev.h")


def test_a_dxw_of_the_wrong_width():
    assert _message(check_shapes, _NarrowDxw) == (
        "_NarrowDxw: wrong shape: dxw is (3, 7) but the step's input xw is (3, 14)")


def test_an_extra_and_a_missing_gradient_are_both_named():
    assert _message(check_shapes, _RenamedGradient) == (
        "_RenamedGradient: grads has 'Q', which is not a parameter (parameters: W_x, W_h, b; "
        "W_x and b come from the input projection)\n"
        "  grads has no entry for 'W_h' (every parameter except the input projection's W_x, b needs one)")


class _ReturnsInputProjectionGradient(RNNCell):
    def backward(self, params, da, dstate, cache):
        dz, dprev, grads = super().backward(params, da, dstate, cache)
        return dz, dprev, {**grads, "b": dz.sum(axis=0)}


def test_a_gradient_the_framework_computes_is_refused():
    assert _message(check_shapes, _ReturnsInputProjectionGradient) == (
        "_ReturnsInputProjectionGradient: grads has 'b', which comes from the input projection: the framework "
        "computes it from dxw, so leave it out")


class _RawInputCell(RNNCell):
    """No input projection: the cell sees x itself and owns every gradient."""

    input_proj = None

    def param_specs(self):
        return {"W": Param((self.input_size, self.hidden_size), uniform(0.3)),
                "U": Param((self.hidden_size, self.hidden_size), uniform(0.3))}

    def forward(self, params, x, state):
        a = np.tanh(x @ params["W"] + state.h @ params["U"])
        return a, HState(a), (x, state.h, a)

    def backward(self, params, da, dstate, cache):
        x, a_prev, a = cache
        dz = (da + dstate.h) * (1 - a * a)
        return (dz @ params["W"].T)[:, :2], HState(dz @ params["U"].T), {"W": x.T @ dz}


def test_without_an_input_projection_dx_and_every_gradient_are_the_cells():
    assert _message(check_shapes, _RawInputCell) == (
        "_RawInputCell: wrong shape: dx is (3, 2) but the step's input x is (3, 5)\n"
        "  grads has no entry for 'U' (every parameter needs one)")


class _WrongOuter(LSTMCell):
    """dW_h as Outer(h_prev, dG[:, :2H]): a.T @ b would be (H, 2H) for an (H, 4H) weight."""

    def backward(self, params, dh, dstate, cache):
        dG, dprev, grads = super().backward(params, dh, dstate, cache)
        return dG, dprev, {"W_h": Outer(grads["W_h"].a, dG[:, : 2 * self.hidden_size])}


def test_an_outer_factor_pair_is_checked_as_its_product():
    assert _message(check_shapes, _WrongOuter) == (
        "_WrongOuter: wrong shape: grads['W_h'] is Outer(a (3, 7), b (3, 14)), so a.T @ b is (7, 14), "
        "but the parameter is (7, 28)")


class _WideOutput(LSTMCell):
    """The forward phase: a (B, 1) memory and an output of the wrong shape."""

    def forward(self, params, xw, state):
        h, new, cache = super().forward(params, xw, state)
        return h[:, :1], LSTMState(new.h, new.c[:, :1]), cache


def test_the_forward_outputs_are_checked_before_backward_runs():
    expected = ("_WideOutput: wrong shape: the output h is (3, 1) but it must be (B, H) = (3, 7)\n"
                "  wrong shape: new state.c is (3, 1) but the state is (3, 7)")
    assert _message(check_shapes, _WideOutput) == expected
    # unrolled, the (B, 1) output would broadcast into the outputs and the structure check would
    # only say that "the state changed structure": check_cell checks the shapes first
    assert _message(check_cell, _WideOutput) == expected
    assert _message(_suite(_WideOutput).test_structure) == expected


class _Float64StateGradient(RNNCell):
    def backward(self, params, da, dstate, cache):
        dz, dprev, grads = super().backward(params, da, dstate, cache)
        return dz, HState(dprev.h.astype(np.float64)), grads


def test_a_gradient_that_leaves_the_dtype_is_named():
    check_shapes(_Float64StateGradient)  # float64 throughout: nothing to see
    assert _message(check_shapes, _Float64StateGradient, np, np.float32) == (
        "_Float64StateGradient: wrong dtype: dstate_prev.h is float64 but the step runs in float32")
    assert "wrong dtype: dstate_prev.h" in _message(check_cell, _Float64StateGradient)


class _BareStateGradient(RNNCell):
    def backward(self, params, da, dstate, cache):
        dz, dprev, grads = super().backward(params, da, dstate, cache)
        return dz, dprev.h, grads


def test_a_bare_array_for_a_state_gradient_is_named():
    assert _message(check_shapes, _BareStateGradient) == (
        "_BareStateGradient: dstate_prev is an array of shape (3, 7), not a HState like the state")


def test_check_shapes_lets_the_cells_own_errors_through():
    class Crashes(RNNCell):
        def backward(self, params, da, dstate, cache):
            raise ZeroDivisionError("the cell's own bug")

    with pytest.raises(ZeroDivisionError, match="the cell's own bug"):
        check_shapes(Crashes)


@pytest.mark.parametrize("cell_cls, options", [(RNNCell, {}), (GRUSimpleCell, {}), (GRUCell, {}),
                                               (GRUCell, {"reset_after": True}), (LSTMCell, {}),
                                               (LSTMCell, {"peephole": True})])
def test_every_built_in_cell_passes_check_shapes_and_declares_its_gate_blocks(cell_cls, options):
    check_shapes(lambda d, h: cell_cls(d, h, **options))
    check_shapes(lambda d, h: cell_cls(d, h, **options), np, np.float32)
    cell = cell_cls(5, 7, **options)
    specs = cell.param_specs()
    assert all(specs[k].blocks == cell.GATES for k in ("W_x", "W_h", "b"))
    assert all(spec.blocks is None for k, spec in specs.items() if k not in ("W_x", "W_h", "b"))


def test_param_blocks_must_divide_the_last_axis():
    assert Param((5, 28), uniform(0.1), blocks=["i", "f", "g", "o"]).blocks == ("i", "f", "g", "o")
    with pytest.raises(ValueError, match=r"3 equal blocks do not divide the last axis of shape \(5, 28\)"):
        Param((5, 28), uniform(0.1), blocks=("r", "z", "n"))
    with pytest.raises(ValueError, match="a non-empty tuple of names"):
        Param((7,), uniform(0.1), blocks=("a"))
    with pytest.raises(ValueError, match="distinct names"):
        Param((8,), uniform(0.1), blocks=("a", "a"))


# -- (e)-(f): gradients -------------------------------------------------------------------------

class _WrongForgetDerivative(LSTMCell):
    """δf without its σ'(f) factor (1 - f): a wrong term in one gate's backward."""

    def _backward(self, xp, params, dh, dstate, gates, c_prev, tc):
        dgi, dgf, dgg, dgo, dc_prev = super()._backward(xp, params, dh, dstate, gates, c_prev, tc)
        return dgi, dgf / (1 - gates[1]), dgg, dgo, dc_prev


class _WrongOutputGateWeight(LSTMCell):
    """Only the o block of dW_h is wrong (scaled): nothing else is."""

    def backward(self, params, dh, dstate, cache):
        dG, dprev, grads = super().backward(params, dh, dstate, cache)
        dW_h = grads["W_h"].dense()
        dW_h[:, 3 * self.hidden_size:] *= 1.5
        return dG, dprev, {"W_h": dW_h}


FIRST_SETUP = '"unidirectional, 1 layer, equal lengths, full BPTT, float64"'


def _gradient_line(name: str, block: str | None = None) -> str:
    where = r"\[\d+(, \d+)*\]" + (rf" \(block '{block}', column \d of it\)" if block else "")
    return (rf"  gradient of {re.escape(name)} is wrong: relative error {NUM} > 1e-06; worst entry {where}: "
            rf"analytic {NUM} vs numeric {NUM}")


def test_a_wrong_term_in_one_gate_names_that_block_the_entry_and_the_set_up():
    lines = _message(check_gradients, _WrongOutputGateWeight).splitlines()
    assert lines[0] == f"_WrongOutputGateWeight: gradients wrong in set-up {FIRST_SETUP}:"
    only_o = rf"; blocks over tolerance, worst first: 'o' {NUM}"
    assert re.fullmatch(_gradient_line("params.layers.0.fwd.W_h", "o") + only_o, lines[1]), lines[1]
    assert lines[2:] == ["also wrong in every other set-up"]  # W_h only: the inputs and states are right


def test_every_wrong_array_is_reported_and_the_wrong_gate_is_the_worst_block():
    lines = _message(check_gradients, _WrongForgetDerivative).splitlines()
    assert lines[0] == f"_WrongForgetDerivative: gradients wrong in set-up {FIRST_SETUP}:"
    names = ["params.layers.0.fwd.W_x", "params.layers.0.fwd.W_h", "params.layers.0.fwd.b", "x",
             "state0.0.fwd.h", "state0.0.fwd.c"]
    assert len(lines) == len(names) + 2
    for name, line in zip(names, lines[1:]):
        if name.startswith("params"):  # through time every block is off; the forget gate's is worst
            assert re.fullmatch(_gradient_line(name, "f") + r"; blocks over tolerance, worst first: 'f' .*", line), line
        else:
            assert re.fullmatch(_gradient_line(name), line), line


class _WrongWhenRowsArePadded(RNNCell):
    """A mistaken shortcut for steps where some rows are padding (their dh is zero): it drops the
    gradient flowing back from the next step for every row, padded or not."""

    def backward(self, params, da, dstate, cache):
        if not da.any(axis=1).all():
            dstate = HState(np.zeros_like(dstate.h))
        return super().backward(params, da, dstate, cache)


class _WrongAtWindowEnds(RNNCell):
    """A mistaken shortcut for a step nothing flows back into (dstate zero: a truncation window's
    last step): it forgets tanh'."""

    def backward(self, params, da, dstate, cache):
        if not dstate.h.any():
            a_prev, _ = cache
            return da, HState(da @ params["W_h"].T), {"W_h": Outer(a_prev, da)}
        return super().backward(params, da, dstate, cache)


def test_a_bug_under_padding_only_is_reported_in_the_ragged_set_up():
    lines = _message(check_gradients, _WrongWhenRowsArePadded).splitlines()
    assert lines[0] == ('_WrongWhenRowsArePadded: gradients wrong in set-up '
                        '"unidirectional, 1 layer, ragged batch (lengths 4, 2, 3), full BPTT, float64":')
    assert lines[-1] == ('also wrong in set-ups: "unidirectional, 1 layer, ragged batch (lengths 4, 2, 3), '
                         'truncated BPTT (windows of 2 steps), float64"; "bidirectional, 2 layers, ragged batch '
                         '(lengths 4, 2, 3), full BPTT, float64"')


def test_a_bug_under_truncation_only_is_reported_in_the_truncated_set_up():
    lines = _message(check_gradients, _WrongAtWindowEnds).splitlines()
    assert lines[0] == ('_WrongAtWindowEnds: gradients wrong in set-up '
                        '"unidirectional, 1 layer, equal lengths, truncated BPTT (windows of 2 steps), float64":')
    assert lines[-1] == ('also wrong in set-ups: "unidirectional, 1 layer, ragged batch (lengths 4, 2, 3), '
                         'truncated BPTT (windows of 2 steps), float64"')


def test_assert_gradients_close_without_blocks_lists_every_wrong_array_with_a_multi_index():
    good = np.arange(6.0).reshape(2, 3)
    bad = good.copy()
    bad[1, 2] += 1
    results = {"w": (bad, good), "fine": (good, good), "v": (bad[0] * 2 + 1, bad[0])}
    # by hand: 1 / (√66 + √55) = 6.435e-02, √14 / (√35 + √5) = 4.590e-01, block r: 1 / (√40 + √29) = 8.5e-02
    with pytest.raises(AssertionError) as caught:
        assert_gradients_close(results)
    assert str(caught.value).splitlines() == [
        "gradient of w is wrong: relative error 6.435e-02 > 1e-06; worst entry [1, 2]: analytic 6.000000e+00 "
        "vs numeric 5.000000e+00",
        "gradient of v is wrong: relative error 4.590e-01 > 1e-06; worst entry [2]: analytic 5.000000e+00 "
        "vs numeric 2.000000e+00"]
    lines, _ = gradient_errors({"w": (bad, good)}, blocks={"w": ("p", "q", "r")})
    assert lines == ["gradient of w is wrong: relative error 6.435e-02 > 1e-06; worst entry [1, 2] "
                     "(block 'r', column 0 of it): analytic 6.000000e+00 vs numeric 5.000000e+00; "
                     "blocks over tolerance, worst first: 'r' 8.5e-02"]


# -- (g): the reference hook ----------------------------------------------------------------------

def _sig(z):
    return 1 / (1 + np.exp(-z))


def lstm_step(p, x, state):
    """The course's LSTM step, written from the equations; gates read from the fused [i | f | g | o] layout."""
    H = state.h.shape[1]
    z = x @ p["W_x"] + state.h @ p["W_h"] + p["b"]
    gu, gf, c_tilde, go = _sig(z[:, :H]), _sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), _sig(z[:, 3 * H:])
    c = gu * c_tilde + gf * state.c
    a = go * np.tanh(c)
    return a, (a, c)


def lstm_step_gates_swapped(p, x, state):
    """A transcription that reads the layout wrong: the update and forget gates swapped."""
    H = state.h.shape[1]
    p = dict(p)
    for k in ("W_x", "W_h", "b"):
        w = p[k].copy()
        w[..., :H], w[..., H:2 * H] = p[k][..., H:2 * H], p[k][..., :H]
        p[k] = w
    return lstm_step(p, x, state)


class _OutputWithoutTanh(LSTMCell):
    """A wrong forward: a<t> = Γo * c<t> instead of Γo * tanh(c<t>); the memory itself is right."""

    def _forward(self, xp, params, c_prev, ai, af, ag, ao):
        i, f, g, o, c, tc, _ = super()._forward(xp, params, c_prev, ai, af, ag, ao)
        return i, f, g, o, c, tc, o * c


def test_the_lstm_step_equals_its_transcription():
    assert check_reference(LSTMCell, lstm_step) < 1e-14
    report = check_cell(LSTMCell, reference=lstm_step)
    assert report["reference"] < 1e-14 and report["shapes"] == "ok"


def test_a_wrong_forward_is_named_at_its_first_step_and_field():
    message = _message(check_reference, _OutputWithoutTanh, lstm_step)
    assert re.fullmatch(rf"_OutputWithoutTanh: the forward step differs from the reference at step 1 of 3: h differs "
                        rf"by {NUM} at \[\d, \d\] \(cell {NUM} vs reference {NUM}; tolerance 1e-10 \* \(1 \+ "
                        rf"\|reference\|\)\)", message), message


def test_a_transcription_that_disagrees_fails_the_kit():
    message = _message(check_cell, LSTMCell, ("numpy",), lstm_step_gates_swapped)
    assert message.startswith("LSTMCell: the forward step differs from the reference at step 1 of 3: h differs by ")


def test_the_suite_takes_a_staticmethod_or_a_plain_function_and_skips_without_one():
    for reference in (staticmethod(lstm_step), lstm_step):
        _suite(LSTMCell, reference).test_reference()
    assert _message(_suite(_OutputWithoutTanh, staticmethod(lstm_step)).test_reference).startswith(
        "_OutputWithoutTanh: the forward step differs from the reference at step 1 of 3: h differs by")
    with pytest.raises(pytest.skip.Exception, match=re.escape(
            "set reference = staticmethod(step) to compare against your transcription of the equations")):
        _suite(LSTMCell).test_reference()


def test_a_one_field_state_may_come_back_as_a_bare_array():
    def rnn_step(p, x, state):
        a = np.tanh(x @ p["W_x"] + state.h @ p["W_h"] + p["b"])
        return a, a

    assert check_reference(RNNCell, rnn_step, steps=4) < 1e-14


def test_a_reference_of_the_wrong_shape_is_named():
    assert _message(check_reference, RNNCell, lambda p, x, s: (s.h[0], s.h)) == (
        "RNNCell: reference returned h of shape (7,), expected (B, H) = (3, 7)")
