"""seqfw's own tasks, registered through the same hook a third-party plugin implements."""
from __future__ import annotations

from ..hookspecs import hookimpl
from ..plugins import TaskSpec
from .adding import AddingConfig, AddingTask
from .agreement import AgreementConfig, AgreementTask
from .char_lm import CharLMConfig, CharLMTask
from .dates import DatesConfig, DatesTask
from .name_gen import NameGenConfig, NameGenTask
from .ner import NERConfig, NERTask
from .sentiment import SentimentConfig, SentimentTask
from .word_lm import WordLMConfig, WordLMTask


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
    ]
