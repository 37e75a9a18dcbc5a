"""seqfw: recurrent sequence models with hand-written forward and backward passes.

The engine is a plain library (no Hydra, no MLflow)::

    from seqfw import get_backend, recurrent
    be = get_backend("numpy")                       # float32; "cupy" for a GPU
    net = recurrent("lstm", input_size=8, hidden_size=32, num_layers=2, bidirectional=True)
    params = net.init_params(be.host_rng(0), be.xp, be.dtype)
    y, state, cache = net.forward(params, x, lengths)          # x (T, B, 8) -> y (T, B, 64)
    dx, dstate0, grads, norms = net.backward(params, dy, None, cache, step_norms=True)

Third-party cells implement ``seqfw_add_cells`` with ``@seqfw.hookimpl``. The package's
layers, lowest first: ``engine`` (the math), ``tasks``, ``plugins``, ``run``, ``cli``;
``docs/architecture.md`` draws them and names the rules CI enforces.
"""
from ._version import __version__
from .engine.backend import Backend, BackendError, get_backend
from .engine.errors import SeqfwError, SettingError
from .engine.recurrence import truncated_bptt
from .plugins.hookspecs import PLUGIN_API, CellSpec, PluginError, PluginWarning, Spec, TaskSpec, hookimpl
from .plugins.registry import cell_registry, make_cell, make_task, recurrent, task_registry

__all__ = [
    "PLUGIN_API", "Backend", "BackendError", "CellSpec", "PluginError", "PluginWarning", "SeqfwError", "SettingError", "Spec", "TaskSpec",
    "cell_registry", "get_backend", "hookimpl", "make_cell", "make_task", "recurrent", "task_registry",
    "truncated_bptt", "__version__",
]
