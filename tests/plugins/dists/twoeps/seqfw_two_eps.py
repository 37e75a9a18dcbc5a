"""One module declared by two entry points of one distribution."""
import seqfw
from seqfw.cells import RNNCell


class TwoRNN(RNNCell):
    pass


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("two_rnn", TwoRNN, None)]
