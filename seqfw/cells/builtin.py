"""seqfw's own cells, registered through the same hook a third-party plugin implements."""
from __future__ import annotations

from dataclasses import dataclass

from ..hookspecs import hookimpl
from ..plugins import CellSpec
from .gru import GRUCell, GRUSimpleCell
from .lstm import LSTMCell
from .rnn import RNNCell


@dataclass
class RNNConfig:
    nonlinearity: str = "tanh"  # tanh | relu


@dataclass
class GRUConfig:
    reset_after: bool = False  # true: the cuDNN/PyTorch form


@dataclass
class LSTMConfig:
    peephole: bool = False
    forget_bias: float = 1.0


@hookimpl
def seqfw_add_cells():
    return [
        CellSpec("rnn", RNNCell, RNNConfig),
        CellSpec("gru_simple", GRUSimpleCell, None),
        CellSpec("gru", GRUCell, GRUConfig),
        CellSpec("lstm", LSTMCell, LSTMConfig),
    ]
