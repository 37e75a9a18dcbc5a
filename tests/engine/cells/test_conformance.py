"""Every built-in cell passes the same conformance kit a plugin author runs (seqfw.testing)."""
import numpy as np
import pytest

from seqfw.cells import GRUCell, GRUSimpleCell, HState, LSTMCell, RNNCell
from seqfw.testing import CellCheckError, CellSuite, check_cell, check_masks, check_structure


class TestRNN(CellSuite):
    cell_cls = RNNCell


class TestRNNRelu(CellSuite):
    cell_cls = RNNCell
    options = {"nonlinearity": "relu"}


class TestGRUSimple(CellSuite):
    cell_cls = GRUSimpleCell


class TestGRU(CellSuite):
    cell_cls = GRUCell


class TestGRUResetAfter(CellSuite):
    cell_cls = GRUCell
    options = {"reset_after": True}


class TestLSTM(CellSuite):
    cell_cls = LSTMCell


class TestLSTMPeephole(CellSuite):
    cell_cls = LSTMCell
    options = {"peephole": True}


class _WrongDerivative(RNNCell):
    def backward(self, params, da, dstate, cache):  # forgets tanh'
        a_prev, a = cache
        dz = da + dstate.h
        return dz, HState(dz @ params["W_h"].T), {"W_h": a_prev.T @ dz}


class _WrongDtype(RNNCell):
    def initial_state(self, batch, xp=np, dtype=np.float32):
        return HState(xp.zeros((batch, self.hidden_size), dtype=np.float64))


def test_the_kit_names_the_first_wrong_gradient_and_by_how_much():
    with pytest.raises(CellCheckError, match=r"_WrongDerivative: gradient of params\.layers\.0\.fwd\.W_x is wrong: "
                                             r"relative error \d\.\d+e[-+]\d+ > 1e-06"):
        check_cell(_WrongDerivative)


def test_the_kit_catches_a_structure_error():
    with pytest.raises(CellCheckError, match="initial_state must give \\(3, 4\\) arrays of the requested dtype float32"):
        check_structure(_WrongDtype(3, 4), np, np.float32)


def test_the_kit_reports_what_it_checked():
    report = check_cell(GRUCell, reset_after=True)
    assert report["structure"][:2] == ["numpy/float32", "numpy/float64"]
    assert report["max_gradient_error"] < 1e-6 and report["step_vs_unrolled"] <= 1e-12
    check_masks(lambda d, h: LSTMCell(d, h, peephole=True))
