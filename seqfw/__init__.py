"""seqfw: recurrent sequence models with hand-written forward and backward passes.

The engine is a plain library (no Hydra, no MLflow)::

    from seqfw import get_backend, recurrent
    be = get_backend("numpy")                       # float32; "cupy" for a GPU
    net = recurrent("lstm", input_size=8, hidden_size=32, num_layers=2, bidirectional=True)
    params = net.init_params(be)                    # in the backend's module and dtype
    y, state, cache = net.forward(params, x, lengths)          # x (T, B, 8) -> y (T, B, 64)
    dx, dstate0, grads, norms = net.backward(params, dy, None, cache, step_norms=True)

Experiments run from Python as from the command line, with the same checks and tracking::

    trained = seqfw.run(["cell=gru", "task=char_lm", "train.steps=300"])   # a Trained
    trained.metrics, trained.run_id, trained.sample(5)
    again = seqfw.load(trained.run_id)                                    # or a checkpoint.npz path

Third-party cells implement ``seqfw_add_cells`` with ``@seqfw.hookimpl``. The package's
layers, lowest first: ``engine`` (the math), ``tasks``, ``plugins``, ``runner``, ``cli``;
``docs/architecture.md`` draws them and names the rules CI enforces.
"""
from ._version import __version__
from .engine.backend import Backend, BackendError, get_backend
from .engine.errors import DtypeError, SeqfwError, SettingError
from .engine.functional import log_softmax, softmax
from .engine.recurrence import truncated_bptt
from .plugins.hookspecs import PLUGIN_API, CellSpec, PluginError, PluginWarning, Spec, TaskSpec, hookimpl
from .plugins.registry import cell_registry, make_cell, make_task, recurrent, task_registry


def run(overrides=()):
    """Train the run the command-line ``overrides`` configure, in this process; returns a ``Trained``
    (metrics, run id, link, the model: ``sample``, ``score``, ``predict``). See ``seqfw.cli.api``."""
    from .cli.api import run as run_overrides  # Hydra and MLflow load here, not on ``import seqfw``

    return run_overrides(overrides)


def load(source, tracking_uri=None):
    """A finished run (an MLflow run id or a checkpoint.npz path) as the ``Trained`` ``seqfw.run`` returned."""
    from .runner.trained import load as load_run

    return load_run(source, tracking_uri)


__all__ = [
    "PLUGIN_API", "Backend", "BackendError", "CellSpec", "DtypeError", "PluginError", "PluginWarning", "SeqfwError", "SettingError", "Spec", "TaskSpec",
    "cell_registry", "get_backend", "hookimpl", "load", "log_softmax", "make_cell", "make_task", "recurrent", "run", "softmax",
    "task_registry",
    "truncated_bptt", "__version__",
]
