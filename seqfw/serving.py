"""Where MLflow finds the models logged before seqfw's layers (``loader_module: seqfw.serving``);
new runs name ``seqfw.run.serving``."""
from .run.serving import SeqfwPredictor, _load_pyfunc  # noqa: F401
