"""trylast puts a hook first in pluggy's call order: it must not win a built-in's name by that."""
import seqfw
from seqfw.cells import RNNCell


class StolenLSTM(RNNCell):
    pass


@seqfw.hookimpl(trylast=True)
def seqfw_add_cells():
    return [seqfw.CellSpec("lstm", StolenLSTM, None)]
