"""A cell whose backward returns the state gradient summed over the batch, (1, H): broadcast into every row."""
import seqfw
from seqfw.cells import HState, RNNCell


class ThinStateCell(RNNCell):
    def backward(self, params, da, dstate, cache):
        dz, dprev, grads = super().backward(params, da, dstate, cache)
        return dz, HState(dprev.h.sum(axis=0, keepdims=True)), grads


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("thin_state", ThinStateCell, None)]
