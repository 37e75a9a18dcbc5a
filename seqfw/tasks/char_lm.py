"""``task=char_lm``: a character-level language model; by default the course's "generate new names".

Default corpus: the US census first names shipped by the ``names`` package
(5,163 distinct names, nothing downloaded); ``task.data.builtin=python_docs`` uses
the text of Python's reference documentation (``pydoc_data``, ~465k characters)
and ``task.data.path=FILE`` any UTF-8 text file, one sequence per non-empty line
(long lines cut into ``max_len``).
A sequence is fed as ``<eos> c1 … cn`` and predicts ``c1 … cn <eos>``.

Metrics: ``val/loss`` (nats per character), ``val/bpc`` (bits per character),
``val/perplexity`` (per character), ``val/loss_per_sequence`` (nats per name,
its ``<eos>`` included), and from ``num_samples`` names sampled at
each evaluation, ``sample/new_share``: the share not in the training set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Optional

import numpy as np

from .base import TaskInfo, require, require_fraction, require_positive, require_seed
from .data import DataError, read_text
from .lm import LanguageModelTask, require_sampling
from .word_lm import documentation_text
from .vocab import Vocab


BUILTIN = ("names", "python_docs")


@dataclass
class CharData:
    path: Optional[str] = None  # a UTF-8 text file, one sequence per line; null = the built-in corpus
    builtin: str = "names"  # names: census first names; python_docs: Python's reference documentation
    max_len: int = 64  # longer lines are cut into pieces of this many characters


@dataclass
class CharLMConfig:
    name: str = "char_lm"
    data: CharData = field(default_factory=CharData)
    val_fraction: float = 0.1
    data_seed: int = 0
    embed_dim: int = 16
    num_samples: int = 50  # sampled at each evaluation
    temperature: float = 1.0  # of the samples at each evaluation; 0: greedy (the most likely name)
    top_k: Optional[int] = None  # draw among the k most likely symbols; null: all
    top_p: Optional[float] = None  # draw among the fewest most likely symbols holding this probability; null: all
    sample_len: int = 20  # length limit of a sample


def census_lists() -> dict[str, set[str]]:
    """The 1990 US census first names shipped by the ``names`` package, by list (``female``, ``male``)."""
    try:
        root = resources.files("names")
    except ModuleNotFoundError:
        raise DataError("the census names come from the `names` package: pip install names "
                         "(or point task.data.path at a UTF-8 text file)") from None
    return {c: {line.split()[0].capitalize() for line in (root / f"dist.{c}.first").read_text().splitlines()
                if line.strip()} for c in ("female", "male")}


def census_first_names() -> list[str]:
    """Every census first name once, whichever list it is on."""
    return sorted(set().union(*census_lists().values()))


def split_lines(text: str, max_len: int, source: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    pieces = [line[i : i + max_len] for line in lines for i in range(0, len(line), max_len)]
    if len(pieces) < 2:
        raise DataError(f"{source} holds {len(pieces)} non-empty line(s); a train/validation split needs at least 2")
    return pieces


class CharLMTask(LanguageModelTask):
    name = "char_lm"
    info = TaskInfo(topologies=("many_to_many",), bidirectional=False, metric="val/bpc", maximize=False,
                    metrics=("val/bpc", "val/loss", "val/perplexity", "val/loss_per_sequence", "sample/new_share"),
                    summary="Predict the next character of a first name (or of a line of text), and sample new ones.",
                    chance="uniform over the V symbols of the vocabulary: val/bpc = log2 V, val/perplexity = V "
                           "(census names: V = 55, 5.78 bpc)")

    def __init__(self, cfg: CharLMConfig):
        require_positive(cfg, "embed_dim", "num_samples", "sample_len")
        require(cfg.data.max_len >= 1, "data.max_len", cfg.data.max_len, "must be >= 1")
        require_fraction(cfg, "val_fraction")
        require(cfg.data.builtin in BUILTIN, "data.builtin", cfg.data.builtin, f"must be one of {', '.join(BUILTIN)}")
        require_seed(cfg)
        require_sampling(cfg)
        self.cfg = cfg
        if cfg.data.path is not None:
            lines = split_lines(read_text(cfg.data.path), cfg.data.max_len, f"task.data.path={cfg.data.path!r}")
        elif cfg.data.builtin == "python_docs":
            lines = split_lines(documentation_text(), cfg.data.max_len, "python_docs")
        else:
            lines = census_first_names()
        order = np.random.default_rng(cfg.data_seed).permutation(len(lines))
        n_val = min(len(lines) - 1, max(1, int(round(cfg.val_fraction * len(lines)))))
        self.val = [lines[i] for i in order[:n_val]]
        self.train = [lines[i] for i in order[n_val:]]
        self.known = set(self.train)
        train = [list(s) for s in self.train]
        self._load(train, [list(s) for s in self.val], Vocab.build(train))

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def describe(self) -> str:
        source = self.cfg.data.path or {"names": "census first names (names package)",
                                         "python_docs": "Python reference documentation"}[self.cfg.data.builtin]
        return (f"char_lm: {source}: {len(self.train)} train / {len(self.val)} validation sequences, "
                f"{len(self.vocab)} symbols")

    def evaluate(self, model, params, xp) -> dict[str, float]:
        metrics = self.lm_metrics(model, params, xp)
        names = self.sample(model, params, xp, self.cfg.num_samples, np.random.default_rng(self.cfg.data_seed))
        return {**metrics, "val/bpc": metrics["val/loss"] / math.log(2),
                "sample/new_share": sum(n not in self.known for n in names) / len(names)}

    def samples(self, model, params, xp) -> str:
        names = self.sample(model, params, xp, self.cfg.num_samples, np.random.default_rng(self.cfg.data_seed))
        return self.sample_text(names, self.known)
