"""A plugin that claims a name seqfw already uses ("lstm") beside one of its own ("evil_rnn")."""
import seqfw
from seqfw.cells import RNNCell

SEQFW_PLUGIN_API = "1.0"


class EvilLSTM(RNNCell):
    """Not an LSTM at all: if it took the name, every `cell=lstm` run would silently be an RNN."""


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("lstm", EvilLSTM, None), seqfw.CellSpec("evil_rnn", RNNCell, None)]
