"""``task=agreement``: subject-verb number agreement across a clause of controllable length.

The course's example of a long-range dependency::

    The cat  , which already ate the apples and saw the dogs , ___   -> was
    The cats , which already ate the apple and saw a dog ,    ___   -> were

Many-to-one: read the sentence up to the verb, predict ``was`` or ``were``.
Nouns inside the clause, drawn from the same list as the subjects, are singular
or plural at random (attractors): a bag of words cannot tell which noun is the
subject, so the only cue is the word order — the subject, ``clause_min``..``clause_max``
words back.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import TaskInfo, require, require_fits, require_positive, require_seed
from .classify import ClassifyTask

SUBJECTS = [("cat", "cats"), ("dog", "dogs"), ("teacher", "teachers"), ("child", "children"),
            ("farmer", "farmers"), ("bird", "birds"), ("student", "students"), ("neighbour", "neighbours")]
VERBS = ["ate", "saw", "liked", "found", "chased", "painted", "visited", "watched", "met", "fed"]
OBJECTS = [("apple", "apples"), ("mouse", "mice"), ("garden", "gardens"), ("house", "houses"),
           ("tree", "trees"), ("river", "rivers"), ("friend", "friends"), ("book", "books")]
ADVERBS = ["already", "also", "often", "once", "quietly", "happily"]


@dataclass
class AgreementConfig:
    name: str = "agreement"
    clause_min: int = 5  # words (at least; whole phrases) in the relative clause between subject and verb
    clause_max: int = 20
    num_train: int = 4000
    num_val: int = 600
    data_seed: int = 0
    embed_dim: int = 32
    num_samples: int = 8


NOUNS = SUBJECTS + OBJECTS


def _phrase(rng: np.random.Generator, noun: str | None = None) -> list[str]:
    number = int(rng.integers(2))
    obj = noun or NOUNS[rng.integers(len(NOUNS))][number]
    det = "the" if noun or number or rng.random() < 0.5 else "a"
    words = [VERBS[rng.integers(len(VERBS))], det, obj]
    return ([ADVERBS[rng.integers(len(ADVERBS))]] if rng.random() < 0.4 else []) + words


def make_sentence(rng: np.random.Generator, clause_min: int, clause_max: int) -> tuple[list[str], int]:
    """A sentence whose relative clause has at least ``target`` words (whole phrases) and its class."""
    plural = int(rng.integers(2))
    lemma = SUBJECTS[rng.integers(len(SUBJECTS))]
    target = int(rng.integers(clause_min, clause_max + 1))
    # the subject's noun in the other number sits in the clause: "The cat, which saw the cats, ..."
    phrases = [_phrase(rng, lemma[1 - plural])]
    words = len(phrases[0])  # kept as we go: summing every loop made a long clause quadratic
    while words + len(phrases) - 1 < target:
        at = int(rng.integers(len(phrases) + 1))  # drawn before the phrase, as always: the same corpus
        phrases.insert(at, _phrase(rng))
        words += len(phrases[at])
    clause = [w for i, p in enumerate(phrases) for w in (["and"] if i else []) + p]
    return ["The", lemma[plural], ",", "which"] + clause + [","], plural


class AgreementTask(ClassifyTask):
    """Predict ``was`` / ``were`` after a relative clause. Metrics: ``val/accuracy`` (chance 0.5), ``val/loss``."""

    name = "agreement"
    classes = ("was", "were")
    info = TaskInfo(topologies=("many_to_one", "one_to_one"), bidirectional=True, metric="val/accuracy",
                    default_topology="many_to_one", metrics=("val/accuracy", "val/loss"),
                    summary="Choose \"was\" or \"were\" after a long relative clause: the verb agrees with the "
                            "subject, many words back.",
                    chance="val/accuracy = 0.5 (singular and plural as likely), val/loss = ln 2 ≈ 0.693")

    def __init__(self, cfg: AgreementConfig):
        require(1 <= cfg.clause_min <= cfg.clause_max, "clause_min", cfg.clause_min,
                f"must be >= 1 and <= task.clause_max ({cfg.clause_max})")
        require_positive(cfg, "num_train", "num_val", "embed_dim", "num_samples")
        require_seed(cfg)
        # ~0.4 kB + 16 B a clause word measured (tokens, ids, vocabulary counts), doubled
        require_fits(cfg, "num_train", 1000 + 32 * cfg.clause_max, extra=cfg.num_val, size_key="clause_max")
        self.cfg = cfg
        rng = np.random.default_rng(cfg.data_seed)
        data = [make_sentence(rng, cfg.clause_min, cfg.clause_max) for _ in range(cfg.num_train + cfg.num_val)]
        self._load(data[cfg.num_val:], data[: cfg.num_val])

    def describe(self) -> str:
        return (f"agreement: {len(self.train)} train / {len(self.val)} validation sentences, clause of "
                f"{self.cfg.clause_min}-{self.cfg.clause_max} words, vocabulary {len(self.vocab)}")
