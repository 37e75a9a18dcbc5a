"""A second distribution whose entry point has the name another plugin's already has ("evil")."""
import seqfw
from seqfw.cells import RNNCell


class TwinRNN(RNNCell):
    pass


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("twin_rnn", TwinRNN, None)]
