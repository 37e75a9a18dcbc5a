"""Cells and a task that go wrong only past the first look: a config without defaults, a name the command
line reads as a value, a wrong shape at a non-default option, a constructor raising TypeError."""
from dataclasses import dataclass

import seqfw
from seqfw.cells import HState, RNNCell
from seqfw.tasks.adding import AddingTask


@dataclass
class NeedsK:
    k: int  # no default: the command line could never compose it


@dataclass
class TruncOptions:
    trunc: bool = False


class SneakyCell(RNNCell):
    """Correct at its defaults; with trunc=True its output loses all but one column."""

    def __init__(self, input_size, hidden_size, trunc=False):
        super().__init__(input_size, hidden_size)
        self.trunc = trunc

    def forward(self, params, xw, state):
        h, new_state, cache = super().forward(params, xw, state)
        return (h[:, :1], HState(h[:, :1]), cache) if self.trunc else (h, new_state, cache)


@dataclass
class KOptions:
    k: int = 1


class TypeErrCell(RNNCell):
    def __init__(self, input_size, hidden_size, k=1):
        super().__init__(input_size, hidden_size)
        if k != 1:
            raise TypeError(f"k={k} is not supported by this build")


@dataclass
class ReqTaskConfig:
    path: str  # required: the command line would fail composing the task group with it


@seqfw.hookimpl
def seqfw_add_cells():
    return [seqfw.CellSpec("needs_k", RNNCell, NeedsK), seqfw.CellSpec("null", RNNCell, None),
            seqfw.CellSpec("sneaky", SneakyCell, TruncOptions), seqfw.CellSpec("typeerr", TypeErrCell, KOptions)]


@seqfw.hookimpl
def seqfw_add_tasks():
    return [seqfw.TaskSpec("reqtask", AddingTask, ReqTaskConfig)]
