"""Wrappers that run any cell over time: directions, stacking, masks, truncation."""
from .bidir import Bidirectional, reverse_padded
from .io import ManyToMany
from .stacked import Stacked, recurrent
from .truncated import carry_state, truncated_bptt
from .unroll import Unidirectional, length_mask, unroll, unroll_backward

__all__ = [
    "Bidirectional", "ManyToMany", "Stacked", "Unidirectional", "carry_state", "length_mask", "recurrent",
    "reverse_padded", "truncated_bptt", "unroll", "unroll_backward",
]
