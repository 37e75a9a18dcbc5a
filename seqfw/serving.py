"""The loader module every logged seqfw model names (``loader_module: seqfw.serving``): a stable,
top-level path that MLflow imports, whatever the package's inner layout; the loader itself is
``seqfw.runner.serving``."""
from .runner.serving import SeqfwPredictor, _load_pyfunc  # noqa: F401
