"""Public import path for plugin authors (``from seqfw.cells import Cell, Param, ...``); the code is
``seqfw.engine.cells``."""
from .engine.cells import *  # noqa: F401,F403
from .engine.cells import __all__  # noqa: F401
