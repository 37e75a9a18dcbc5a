"""What an MLflow experiment says about its task: the description MLflow shows on the experiment's page.

MLflow stores an experiment's description as its tag ``mlflow.note.content`` (Markdown). seqfw writes
one when it creates an experiment, or finds one without a description (``seqfw.runner.tracking``): the
task in one sentence, the metrics it logs, and what a model without skill scores on them, from the
task's ``TaskInfo`` (``summary``, ``chance``). A plugin's task that leaves those empty is described by
its docstring's first line and its metrics.
"""
from __future__ import annotations

import inspect
import sys

VIEW = ("seqfw logs model-training runs: in the MLflow UI they are under **Model training** (the "
        "GenAI / Model training switch at the top of the left sidebar).")


def experiment_note(task) -> str:
    """The Markdown description of an experiment of ``task`` (a built task, or a task class)."""
    info = task.info
    cls = task if isinstance(task, type) else type(task)
    metrics = task.reported_metrics() if not isinstance(task, type) else info.metrics
    shown = [f"`{m}`" + (f" (optimised, {'higher' if info.maximize else 'lower'} is better)" if m == info.metric
                         else "") for m in (metrics or (info.metric,))]
    if not metrics:
        shown.append("and what its `evaluate()` reports")
    chance = getattr(info, "chance", "") or "not stated by the task (a plugin sets it with `TaskInfo(chance=...)`)"
    summary = getattr(info, "summary", "") or _first_line(cls) or f"the task {task.name}."
    return (f"**{task.name}**: {summary}\n\n"
            f"Metrics: {', '.join(shown)}.\n\n"
            f"Chance level: {chance.rstrip('.')}.\n\n{VIEW}\n")


def _first_line(cls) -> str:
    """The first line of the class's own docstring, else of its module's ('' if neither has one)."""
    module = sys.modules.get(cls.__module__)
    for doc in (cls.__dict__.get("__doc__"), getattr(module, "__doc__", None)):
        if doc and doc.strip():
            return inspect.cleandoc(doc).splitlines()[0].strip()
    return ""
