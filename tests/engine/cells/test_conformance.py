"""Every built-in cell passes the same conformance kit a plugin author runs (seqfw.testing)."""
import re

import numpy as np
import pytest

from seqfw.cells import GRUCell, GRUSimpleCell, HState, LSTMCell, RNNCell
from seqfw.testing import CellCheckError, CellSuite, check_cell, check_masks, check_reference, check_structure
from tests.engine.cells import equations as eq


class TestRNN(CellSuite):
    cell_cls = RNNCell
    reference = staticmethod(eq.rnn_tanh_step)


class TestRNNRelu(CellSuite):
    cell_cls = RNNCell
    options = {"nonlinearity": "relu"}
    reference = staticmethod(eq.rnn_relu_step)


class TestGRUSimple(CellSuite):
    cell_cls = GRUSimpleCell
    reference = staticmethod(eq.gru_simple_step)


class TestGRU(CellSuite):
    cell_cls = GRUCell
    reference = staticmethod(eq.gru_step)


class TestGRUResetAfter(CellSuite):
    cell_cls = GRUCell
    options = {"reset_after": True}
    reference = staticmethod(eq.gru_reset_after_step)


class TestLSTM(CellSuite):
    cell_cls = LSTMCell
    reference = staticmethod(eq.lstm_step)


class TestLSTMPeephole(CellSuite):
    cell_cls = LSTMCell
    options = {"peephole": True}
    reference = staticmethod(eq.peephole_lstm_step)


# -- each reference constrains its cell: a plausible misreading of the course is rejected ------------

MISREAD = "the forward step differs from the reference at step 1 of 3: h differs by"


def _rejected(make_cell, misreading):
    with pytest.raises(CellCheckError, match=MISREAD):
        check_reference(make_cell, misreading)


@pytest.mark.parametrize("suite, misreading", [
    (TestRNN, eq.rnn_tanh_step_W_h_as_W_aa),
    (TestRNNRelu, eq.rnn_relu_step_W_h_as_W_aa),
], ids=["tanh-W_h-as-W_aa", "relu-W_h-as-W_aa"])
def test_the_rnn_reference_rejects_a_misreading(suite, misreading):
    _rejected(suite()._make, misreading)


@pytest.mark.parametrize("suite, misreading", [
    (TestGRUSimple, eq.gru_simple_step_update_inverted),
    (TestGRU, eq.gru_step_update_inverted),
    (TestGRU, eq.gru_step_reset_after_product),
    (TestGRUResetAfter, eq.gru_reset_after_step_b_hn_outside),
], ids=["simple-update-inverted", "cho-update-inverted", "cho-reset-after-product", "reset-after-b_hn-outside"])
def test_the_gru_references_reject_a_misreading(suite, misreading):
    _rejected(suite()._make, misreading)


@pytest.mark.parametrize("suite, misreading", [
    (TestLSTM, eq.lstm_step_blocks_in_equation_order),
    (TestLSTMPeephole, eq.peephole_lstm_step_output_peeks_at_c_prev),
], ids=["blocks-in-equation-order", "peephole-output-peeks-at-c_prev"])
def test_the_lstm_references_reject_a_misreading(suite, misreading):
    _rejected(suite()._make, misreading)


class _WrongDerivative(RNNCell):
    def backward(self, params, da, dstate, cache):  # forgets tanh'
        a_prev, a = cache
        dz = da + dstate.h
        return dz, HState(dz @ params["W_h"].T), {"W_h": a_prev.T @ dz}


class _WrongDtype(RNNCell):
    def initial_state(self, batch, xp=np, dtype=np.float32):
        return HState(xp.zeros((batch, self.hidden_size), dtype=np.float64))


def test_the_kit_names_the_set_up_and_every_wrong_gradient_and_by_how_much():
    with pytest.raises(CellCheckError) as caught:
        check_cell(_WrongDerivative)
    lines = str(caught.value).splitlines()
    assert lines[0] == ('_WrongDerivative: gradients wrong in set-up '
                        '"unidirectional, 1 layer, equal lengths, full BPTT, float64":')
    assert re.fullmatch(r"  gradient of params\.layers\.0\.fwd\.W_x is wrong: relative error \d\.\d+e[-+]\d+ > 1e-06; "
                        r"worst entry \[\d, \d\] \(block 'a', column \d of it\): analytic \S+ vs numeric \S+", lines[1])
    assert [line.split(" is wrong")[0] for line in lines[1:-1]] == [
        f"  gradient of {name}" for name in ("params.layers.0.fwd.W_x", "params.layers.0.fwd.W_h",
                                             "params.layers.0.fwd.b", "x", "state0.0.fwd.h")]
    assert lines[-1] == "also wrong in every other set-up"


def test_the_kit_catches_a_structure_error():
    with pytest.raises(CellCheckError, match="initial_state must give \\(3, 4\\) arrays of the requested dtype float32"):
        check_structure(_WrongDtype(3, 4), np, np.float32)


def test_the_kit_reports_what_it_checked():
    report = check_cell(GRUCell, reset_after=True)
    assert report["structure"][:2] == ["numpy/float32", "numpy/float64"]
    assert report["max_gradient_error"] < 1e-6 and report["step_vs_unrolled"] <= 1e-12
    assert report["shapes"] == "ok" and report["reference"] is None
    check_masks(lambda d, h: LSTMCell(d, h, peephole=True))
