"""The time loop and the wirings that run any cell over time: directions, stacking, masks, truncation.

Every wiring takes cells (or a cell factory), never a cell's name.
"""
from .bidirectional import Bidirectional, reverse_padded
from .stacked import Stacked, stack
from .truncated import carry_state, truncated_bptt
from .unroll import LOSS_STEPS, Unidirectional, length_mask, loss_mask, unroll, unroll_backward

__all__ = [
    "LOSS_STEPS", "Bidirectional", "Stacked", "Unidirectional", "carry_state", "length_mask", "loss_mask", "reverse_padded", "stack",
    "truncated_bptt", "unroll", "unroll_backward",
]
