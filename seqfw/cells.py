"""Public import path for plugin authors (``from seqfw.cells import Cell, Param, ...``); the code is
``seqfw.engine.cells``. ``Kernels`` and ``sigmoid_of`` (``seqfw.engine.kernels``) let a plugin write its
elementwise math once, as plain array code that CuPy fuses into one GPU kernel."""
from .engine.cells import *  # noqa: F401,F403
from .engine.cells import __all__ as _cells
from .engine.kernels import Kernels, sigmoid_of  # noqa: F401

__all__ = [*_cells, "Kernels", "sigmoid_of"]
