"""seqfw's own tasks, registered through the same hook a third-party plugin implements."""
from __future__ import annotations

from ..hookspecs import hookimpl
from ..plugins import TaskSpec
from .ner import NERConfig, NERTask


@hookimpl
def seqfw_add_tasks():
    return [TaskSpec("ner", NERTask, NERConfig)]
