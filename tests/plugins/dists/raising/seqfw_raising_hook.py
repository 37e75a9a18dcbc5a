"""A plugin that imports, but whose hook raises when seqfw asks for its cells."""
import seqfw


@seqfw.hookimpl
def seqfw_add_cells():
    raise RuntimeError("cannot find my CUDA kernels")
