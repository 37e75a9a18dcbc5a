"""seqfw's own cells and tasks, registered through the same hooks a third-party plugin implements."""
from __future__ import annotations

from ..engine.cells import GRUCell, GRUOptions, GRUSimpleCell, LSTMCell, LSTMOptions, RNNCell, RNNOptions
from ..tasks.adding import AddingConfig, AddingTask
from ..tasks.agreement import AgreementConfig, AgreementTask
from ..tasks.char_lm import CharLMConfig, CharLMTask
from ..tasks.dates import DatesConfig, DatesTask
from ..tasks.dna import DNAConfig, DNATask
from ..tasks.minimal_pairs import MinimalPairsConfig, MinimalPairsTask
from ..tasks.name_gen import NameGenConfig, NameGenTask
from ..tasks.ner import NERConfig, NERTask
from ..tasks.sentiment import SentimentConfig, SentimentTask
from ..tasks.word_lm import WordLMConfig, WordLMTask
from .hookspecs import CellSpec, TaskSpec, hookimpl


@hookimpl
def seqfw_add_cells():
    return [
        CellSpec("rnn", RNNCell, RNNOptions),
        CellSpec("gru_simple", GRUSimpleCell, None),
        CellSpec("gru", GRUCell, GRUOptions),
        CellSpec("lstm", LSTMCell, LSTMOptions),
    ]


@hookimpl
def seqfw_add_tasks():
    return [
        TaskSpec("ner", NERTask, NERConfig),
        TaskSpec("adding", AddingTask, AddingConfig),
        TaskSpec("agreement", AgreementTask, AgreementConfig),
        TaskSpec("sentiment", SentimentTask, SentimentConfig),
        TaskSpec("char_lm", CharLMTask, CharLMConfig),
        TaskSpec("word_lm", WordLMTask, WordLMConfig),
        TaskSpec("dates", DatesTask, DatesConfig),
        TaskSpec("name_gen", NameGenTask, NameGenConfig),
        TaskSpec("dna", DNATask, DNAConfig),
        TaskSpec("minimal_pairs", MinimalPairsTask, MinimalPairsConfig),
    ]
