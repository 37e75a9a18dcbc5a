"""One plugin, three cells: one whose backward crashes, one that is not a Cell, one that works."""
import seqfw
from seqfw.cells import RNNCell


class CrashingCell(RNNCell):
    def backward(self, params, da, dstate, cache):
        raise ZeroDivisionError("oops")


class NotACell:
    pass


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("crashing", CrashingCell, None), seqfw.CellSpec("notacell", NotACell, None),
            seqfw.CellSpec("fine", RNNCell, None)]
