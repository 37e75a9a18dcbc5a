"""Public import path for plugin authors (``from seqfw.backend import xp_of``); the code is ``seqfw.engine.backend``."""
from .engine.backend import Array, Backend, BackendError, cupy_available, get_backend, to_host, xp_of

__all__ = ["Array", "Backend", "BackendError", "cupy_available", "get_backend", "to_host", "xp_of"]
