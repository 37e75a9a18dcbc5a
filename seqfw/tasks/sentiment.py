"""``task=sentiment``: many-to-one sentence polarity where word order matters.

Generated sentences whose label a bag of words cannot read off::

    the food was not bad                                   -> positive (negation)
    the plot was great but the acting was awful            -> negative (the clause after "but" wins)
    although the music was dull , the ending was superb    -> positive
    i did not think the hotel was lovely                   -> negative (negation far from the adjective)

Every evaluation also reports a bag-of-words logistic regression trained on the
same split (``val/bow_baseline_accuracy``); ``topology=one_to_one`` is the
neural bag of words.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import TaskInfo, require_fits, require_positive, require_seed
from .classify import ClassifyTask

POSITIVE = "good great excellent wonderful enjoyable brilliant lovely superb".split()
NEGATIVE = "bad terrible awful boring dull horrible poor disappointing".split()
SUBJECTS = ["the movie", "the food", "the service", "the plot", "the acting", "the hotel", "the music", "the ending"]


@dataclass
class SentimentConfig:
    name: str = "sentiment"
    num_train: int = 4000
    num_val: int = 800
    data_seed: int = 0
    embed_dim: int = 32
    num_samples: int = 10


def _adj(rng) -> tuple[str, int]:
    positive = int(rng.integers(2))
    words = POSITIVE if positive else NEGATIVE
    return words[rng.integers(len(words))], positive


def _clause(rng, negate: bool = False) -> tuple[str, int]:
    adj, label = _adj(rng)
    adv = "really " if rng.random() < 0.2 else ""
    subject = SUBJECTS[rng.integers(len(SUBJECTS))]
    return f"{subject} was {'not ' if negate else ''}{adv}{adj}", (1 - label) if negate else label


# plain, negated, contrast, concession, distant negation: plain sentences are common, as in real
# reviews, so that word counts carry some signal and the baseline is a fair one
KIND_SHARES = (0.4, 0.15, 0.2, 0.1, 0.15)


def make_sentence(rng: np.random.Generator) -> tuple[list[str], int]:
    kind = rng.choice(len(KIND_SHARES), p=KIND_SHARES)
    if kind == 0:  # plain
        text, label = _clause(rng)
    elif kind == 1:  # negated
        text, label = _clause(rng, negate=True)
    elif kind == 2:  # contrast: the second clause decides
        first, _ = _clause(rng, negate=rng.random() < 0.3)
        second, label = _clause(rng, negate=rng.random() < 0.3)
        text = f"{first} but {second}"
    elif kind == 3:  # concession: the main clause decides
        first, _ = _clause(rng)
        second, label = _clause(rng)
        text = f"although {first} , {second}"
    else:  # negation at a distance
        inner, inner_label = _clause(rng)
        text, label = f"i did not think {inner}", 1 - inner_label
    return text.split(), label


def bow_baseline(train: list, val: list, vocab_size: int, steps: int = 400, lr: float = 0.5) -> float:
    """Validation accuracy of a logistic regression on word counts (full-batch gradient descent)."""
    def counts(data):
        X = np.zeros((len(data), vocab_size))
        for i, (ids, _) in enumerate(data):
            np.add.at(X[i], ids, 1.0)
        return X, np.array([y for _, y in data], dtype=float)

    X, y = counts(train)
    Xv, yv = counts(val)
    w, b = np.zeros(vocab_size), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(X @ w + b)))
        w -= lr * X.T @ (p - y) / len(y)
        b -= lr * float((p - y).mean())
    return float((((Xv @ w + b) > 0) == yv).mean())


class SentimentTask(ClassifyTask):
    """Metrics: ``val/accuracy``, ``val/loss``, ``val/bow_baseline_accuracy`` (same split)."""

    name = "sentiment"
    classes = ("negative", "positive")
    info = TaskInfo(topologies=("many_to_one", "one_to_one"), bidirectional=True, metric="val/accuracy",
                    default_topology="many_to_one",
                    metrics=("val/accuracy", "val/loss", "val/bow_baseline_accuracy"),
                    summary="Tell whether a review sentence is positive or negative, where negation and \"but\" "
                            "decide.",
                    chance="the majority class: val/accuracy ≈ 0.5 (the classes are balanced), val/loss = ln 2 ≈ "
                           "0.693; a bag of words reaches val/bow_baseline_accuracy ≈ 0.58")

    def __init__(self, cfg: SentimentConfig):
        require_positive(cfg, "num_train", "num_val", "embed_dim", "num_samples")
        require_seed(cfg)
        # ~1.4 kB measured at the peak (the baseline's word-count matrix included), doubled
        require_fits(cfg, "num_train", 3000, extra=cfg.num_val)
        self.cfg = cfg
        rng = np.random.default_rng(cfg.data_seed)
        data = [make_sentence(rng) for _ in range(cfg.num_train + cfg.num_val)]
        self._load(data[cfg.num_val:], data[: cfg.num_val])
        self.bow_accuracy = bow_baseline(self._train, self._val, len(self.vocab))

    def describe(self) -> str:
        return (f"sentiment: {len(self.train)} train / {len(self.val)} validation sentences, vocabulary "
                f"{len(self.vocab)}; bag-of-words baseline {self.bow_accuracy:.3f}")

    def evaluate(self, model, params, xp) -> dict[str, float]:
        return {**super().evaluate(model, params, xp), "val/bow_baseline_accuracy": self.bow_accuracy}
