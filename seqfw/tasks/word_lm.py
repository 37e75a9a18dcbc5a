"""``task=word_lm``: a word-level language model with the course's tokenisation.

Sentences are lower-cased and split into words and punctuation marks; the
vocabulary keeps the ``vocab_size`` most frequent training words, the rest
become ``<unk>``, and every sentence ends with ``<eos>``. Default corpus: the
prose of Python's own reference documentation (``pydoc_data.topics``, shipped
with every Python; code lines filtered out). ``task.data.path=FILE`` reads any
UTF-8 text instead.

Metrics: ``val/loss`` (nats per token), ``val/perplexity``; samples at every
evaluation. Score a sentence from a finished run:
``python -m seqfw.sample RUN_ID --score "the value of the expression is returned ."``
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .base import TaskInfo, require, require_fraction, require_positive, require_seed
from .data import DataError, read_text
from .lm import LanguageModelTask, require_sampling
from .vocab import Vocab

TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+|[^\sa-z0-9]")


@dataclass
class WordData:
    path: Optional[str] = None  # a UTF-8 text file; null = Python's reference documentation prose
    min_len: int = 4  # sentences shorter than this many tokens are dropped
    max_len: int = 40  # and longer ones too (tables, code)


@dataclass
class WordLMConfig:
    name: str = "word_lm"
    data: WordData = field(default_factory=WordData)
    vocab_size: int = 2000  # K most frequent words; the rest are <unk>
    val_fraction: float = 0.1
    data_seed: int = 0
    embed_dim: int = 64
    num_samples: int = 10
    temperature: float = 1.0  # of the samples at each evaluation; 0: greedy (the most likely sentence)
    top_k: Optional[int] = None  # draw among the k most likely words; null: all
    top_p: Optional[float] = None  # draw among the fewest most likely words holding this probability; null: all
    sample_len: int = 30


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def documentation_text() -> str:
    from pydoc_data.topics import topics

    return "\n".join(topics.values())


def sentences(text: str, min_len: int, max_len: int) -> list[list[str]]:
    """Prose sentences as token lists; interpreter prompts and sentences that are mostly symbols are skipped."""
    prose = "\n".join(line for line in (raw.strip() for raw in text.splitlines())
                      if line and not line.startswith((">>>", "...", "#")))
    out = []
    for sent in re.split(r"(?<=[.!?])\s+", prose):
        tokens = tokenize(" ".join(sent.split()))
        letters = sum(t.isalpha() for t in tokens)
        if min_len <= len(tokens) <= max_len and letters >= 0.75 * len(tokens):
            out.append(tokens)
    return out


class WordLMTask(LanguageModelTask):
    name = "word_lm"
    unit = "words"
    info = TaskInfo(topologies=("many_to_many",), bidirectional=False, metric="val/perplexity", maximize=False,
                    metrics=("val/perplexity", "val/loss", "val/loss_per_sequence"),
                    summary="Predict the next word of a sentence (Python's documentation prose by default), and "
                            "sample new sentences.",
                    chance="uniform over the V words of the vocabulary: val/perplexity = V, val/loss = ln V nats "
                           "per token (default corpus: V = 1787, loss 7.49)")

    def __init__(self, cfg: WordLMConfig):
        require_positive(cfg, "vocab_size", "embed_dim", "num_samples", "sample_len")
        require(1 <= cfg.data.min_len <= cfg.data.max_len, "data.min_len", cfg.data.min_len,
                f"must be >= 1 and <= task.data.max_len ({cfg.data.max_len})")
        require_fraction(cfg, "val_fraction")
        require_seed(cfg)
        require_sampling(cfg)
        self.cfg = cfg
        text = documentation_text() if cfg.data.path is None else read_text(cfg.data.path, expansion=16)
        sents = sentences(text, cfg.data.min_len, cfg.data.max_len)
        if len(sents) < 2:
            source = f"task.data.path={cfg.data.path!r}" if cfg.data.path else "the corpus"
            raise DataError(f"{source} has {len(sents)} usable sentence(s) of {cfg.data.min_len}-"
                             f"{cfg.data.max_len} tokens; a train/validation split needs at least 2 (give a "
                             f"longer text, or widen task.data.min_len / task.data.max_len)")
        order = np.random.default_rng(cfg.data_seed).permutation(len(sents))
        n_val = min(len(sents) - 1, max(1, int(round(cfg.val_fraction * len(sents)))))
        train, val = [sents[i] for i in order[n_val:]], [sents[i] for i in order[:n_val]]
        self.known = {" ".join(s) for s in train}
        self._load(train, val, Vocab.build(train, max_size=cfg.vocab_size))

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def describe(self) -> str:
        source = self.cfg.data.path or "Python reference documentation (pydoc_data)"
        unk = self.vocab.stoi["<unk>"]
        share = np.mean([t == unk for x, _ in self._val for t in x[1:]])
        return (f"word_lm: {source}: {len(self.train_tokens)} train / {len(self.val_tokens)} validation sentences, "
                f"vocabulary {len(self.vocab)} (<unk> {share:.1%} of validation tokens)")

    def evaluate(self, model, params, xp) -> dict[str, float]:
        return self.lm_metrics(model, params, xp)

    def samples(self, model, params, xp) -> str:
        texts = self.sample(model, params, xp, self.cfg.num_samples, np.random.default_rng(self.cfg.data_seed))
        return self.sample_text(texts, self.known)
