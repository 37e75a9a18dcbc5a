"""Recurrent cells: one file per family, each a ``Cell`` subclass holding only the math."""
from .base import Cell, HState, Outer, Param, blocks, constant, sigmoid, uniform, zeros
from .gru import GRUCell, GRUOptions, GRUResetAfterCell, GRUSimpleCell
from .lstm import LSTMCell, LSTMOptions, LSTMState, PeepholeLSTMCell
from .rnn import RNNCell, RNNOptions

__all__ = [
    "Cell", "HState", "Outer", "Param", "blocks", "constant", "sigmoid", "uniform", "zeros",
    "GRUCell", "GRUOptions", "GRUResetAfterCell", "GRUSimpleCell", "LSTMCell", "LSTMOptions", "LSTMState",
    "PeepholeLSTMCell", "RNNCell", "RNNOptions",
]
