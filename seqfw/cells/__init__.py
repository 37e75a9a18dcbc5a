"""Recurrent cells: one file per family, each a ``Cell`` subclass holding only the math."""
from .base import Cell, HState, Param, blocks, constant, sigmoid, uniform, zeros
from .gru import GRUCell, GRUSimpleCell
from .lstm import LSTMCell, LSTMState
from .rnn import RNNCell

__all__ = [
    "Cell", "HState", "Param", "blocks", "constant", "sigmoid", "uniform", "zeros",
    "GRUCell", "GRUSimpleCell", "LSTMCell", "LSTMState", "RNNCell",
]
