"""Tasks: embedded or generated data, vocabularies, batching with padding, metrics and samples.

Each task is one file (``ner``, ``adding``, ``agreement``, ``sentiment``, ``char_lm``, ``word_lm``,
``name_gen``, ``dates``, ``dna``); what several share lives beside them (``base`` the contract, ``data``
files and padding, ``vocab``, ``lm`` language models, ``classify`` sequence classifiers,
``sampling`` feeding samples back in, ``hmm`` the hidden Markov model ``dna`` samples from and bounds
its accuracy with). Tasks import the engine and nothing above it.
"""
from .base import Batch, Task, TaskInfo
from .data import DataError, pad_batch
from .vocab import EOS, PAD, UNK, Vocab

__all__ = ["Batch", "DataError", "EOS", "PAD", "Task", "TaskInfo", "UNK", "Vocab", "pad_batch"]
