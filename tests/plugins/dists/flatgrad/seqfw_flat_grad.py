"""A cell whose backward returns dW_h summed to an (H,) vector: NumPy would broadcast it into the (H, H)
weight and train without a word."""
import seqfw
from seqfw.cells import RNNCell


class FlatGradCell(RNNCell):
    def backward(self, params, da, dstate, cache):
        dz, dprev, grads = super().backward(params, da, dstate, cache)
        return dz, dprev, {"W_h": grads["W_h"].dense().sum(axis=0)}


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("flat_grad", FlatGradCell, None)]
