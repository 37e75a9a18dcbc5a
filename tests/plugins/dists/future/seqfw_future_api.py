"""A working cell from a plugin written for a newer plugin API than this seqfw implements."""
import seqfw
from seqfw.cells import RNNCell

SEQFW_PLUGIN_API = "1.7"


class FutureRNN(RNNCell):
    pass


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("future_rnn", FutureRNN, None)]
