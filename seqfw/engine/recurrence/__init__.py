"""The time loop and the wirings that run any cell over time: directions, stacking, masks, truncation.

Every wiring takes cells (or a cell factory), never a cell's name. ``step``/``step_backward`` run
one time step of a cell by hand (``Stacked.step`` of a whole network).
"""
from .bidirectional import Bidirectional, reverse_padded
from .stacked import Stacked, StackedCache, stack
from .step import StepCache, step, step_backward
from .truncated import carry_state, truncated_bptt
from .unroll import LOSS_STEPS, Unidirectional, length_mask, loss_mask, unroll, unroll_backward

__all__ = [
    "LOSS_STEPS", "Bidirectional", "Stacked", "StackedCache", "StepCache", "Unidirectional", "carry_state",
    "length_mask", "loss_mask", "reverse_padded", "stack", "step", "step_backward", "truncated_bptt", "unroll",
    "unroll_backward",
]
