"""A hook whose name is misspelt (seqfw_add_cell): pluggy refuses the plugin."""
import seqfw
from seqfw.cells import RNNCell


@seqfw.hookimpl
def seqfw_add_cell():
    return [seqfw.CellSpec("typo_rnn", RNNCell, None)]
