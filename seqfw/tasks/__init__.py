"""Tasks: embedded or generated data, vocabularies, batching with padding, metrics and samples."""
from .base import Batch, Task, TaskInfo, pad_batch
from .vocab import EOS, PAD, UNK, Vocab

__all__ = ["Batch", "EOS", "PAD", "Task", "TaskInfo", "UNK", "Vocab", "pad_batch"]
