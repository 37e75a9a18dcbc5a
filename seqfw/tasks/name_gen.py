"""``task=name_gen``: one-to-many generation of a first name given its class (female or male).

    x<1> = <female> or <male>;  x<t> = y<t-1>;  y = the name's characters, then <eos>

The census lists of the ``names`` package give the classes; names on both lists
are dropped. Metrics: ``val/loss`` (nats per character), ``val/bpc``, and over
``num_samples`` names sampled per class at each evaluation: ``sample/new_share``
(not in the training set) and ``sample/class_share``: of the samples that are
real training names, the share listed under the class they were asked for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .base import TaskInfo, require_fraction, require_positive, require_seed
from .data import DataError
from .char_lm import census_lists
from .lm import LanguageModelTask, require_sampling
from .sampling import sample_ids
from .vocab import EOS, PAD, UNK, Vocab

CLASSES = ("female", "male")


@dataclass
class NameGenConfig:
    name: str = "name_gen"
    val_fraction: float = 0.1
    data_seed: int = 0
    embed_dim: int = 16
    num_samples: int = 25  # per class, at each evaluation
    temperature: float = 1.0  # of the samples at each evaluation; 0: greedy (the most likely name per class)
    top_k: Optional[int] = None  # draw among the k most likely symbols; null: all
    top_p: Optional[float] = None  # draw among the fewest most likely symbols holding this probability; null: all
    sample_len: int = 20


def census_names_by_class() -> dict[str, set[str]]:
    """The census lists without the names that are on both (their class is ambiguous)."""
    lists = census_lists()
    both = lists["female"] & lists["male"]
    return {c: lists[c] - both for c in CLASSES}


class NameGenTask(LanguageModelTask):
    name = "name_gen"
    info = TaskInfo(topologies=("one_to_many",), bidirectional=False, metric="val/bpc", maximize=False,
                    default_topology="one_to_many", metrics=("val/bpc", "val/loss", "val/perplexity",
                                                             "val/loss_per_sequence", "sample/new_share",
                                                             "sample/class_share"),
                    summary="Generate a first name of a given class (female or male), one character at a time.",
                    chance="uniform over the V symbols of the vocabulary: val/bpc = log2 V (V = 57: 5.83 bpc); "
                           "sample/class_share = 0.5 for a model that ignores the class")

    def __init__(self, cfg: NameGenConfig):
        require_fraction(cfg, "val_fraction")
        require_positive(cfg, "embed_dim", "num_samples", "sample_len")
        require_seed(cfg)
        require_sampling(cfg)
        self.cfg = cfg
        by_class = census_names_by_class()
        pairs = sorted((n, c) for c in CLASSES for n in by_class[c])
        order = np.random.default_rng(cfg.data_seed).permutation(len(pairs))
        n_val = max(1, int(round(cfg.val_fraction * len(pairs))))
        self.val_pairs = [pairs[i] for i in order[:n_val]]
        self.train_pairs = [pairs[i] for i in order[n_val:]]
        self.known = {c: {n for n, k in self.train_pairs if k == c} for c in CLASSES}
        vocab = Vocab.build([list(n) for n, _ in self.train_pairs], specials=(PAD, UNK, EOS) + self.class_tokens)
        self._load([[f"<{c}>"] + list(n) for n, c in self.train_pairs],
                   [[f"<{c}>"] + list(n) for n, c in self.val_pairs], vocab)

    class_tokens = tuple(f"<{c}>" for c in CLASSES)

    def _encode(self, tokens: list[str]) -> tuple[list[int], list[int]]:
        ids = self.vocab.encode(tokens)  # [<class>, c1, ..., cn]
        return ids, ids[1:] + [self.vocab.stoi[EOS]]

    def tokenize(self, text: str) -> list[str]:
        cls, _, name = text.partition(":")
        if f"<{cls.strip()}>" not in self.class_tokens:
            raise DataError(f"score 'CLASS: Name' with CLASS one of {', '.join(CLASSES)}, e.g. 'female: Anna'")
        return [f"<{cls.strip()}>"] + list(name.strip())

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def describe(self) -> str:
        counts = ", ".join(f"{len(self.known[c])} {c}" for c in CLASSES)
        return f"name_gen: {len(self.train_pairs)} train names ({counts}) / {len(self.val_pairs)} validation"

    def prime_tokens(self, prime: str) -> list[str]:
        return list(prime)  # the start of a name: it continues after the class token

    def sample_classes(self, model, params, xp, n: int, rng, temperature: float | None = None, *,
                       top_k: int | None = None, top_p: float | None = None, prime: str = "") -> dict:
        """``n`` names per class, each starting with ``prime``, controls as in ``sample``."""
        controls, prime_ids = self.controls(temperature, top_k, top_p), self.prime_ids(prime)
        starts = [self.vocab.stoi[t] for t in self.class_tokens for _ in range(n)]
        ids = sample_ids(model, params, self.vocab, starts, self.cfg.sample_len, controls, rng, xp,
                         never=self.class_tokens, prime_ids=prime_ids)
        return {c: [self.detokenize(self.vocab.decode(s)) for s in ids[k * n : (k + 1) * n]]
                for k, c in enumerate(CLASSES)}

    def sample(self, model, params, xp, n: int, rng, temperature: float | None = None, *, top_k: int | None = None,
               top_p: float | None = None, prime: str = "") -> list[str]:
        """``n`` names per class, as ``female: Anna`` lines, each name starting with ``prime``."""
        by_class = self.sample_classes(model, params, xp, n, rng, temperature, top_k=top_k, top_p=top_p, prime=prime)
        return [f"{c}: {name}" for c in CLASSES for name in by_class[c]]

    def predict_texts(self, model, params, xp, texts, rng) -> list[str]:
        """A new name per row, of the class the row names (``female`` or ``male``)."""
        bad = sorted({t for t in texts if f"<{t.strip()}>" not in self.class_tokens})
        if bad:
            raise DataError(f"name_gen predicts from a class per row ({', '.join(CLASSES)}), got {bad}")
        starts = [self.vocab.stoi[f"<{t.strip()}>"] for t in texts]
        ids = sample_ids(model, params, self.vocab, starts, self.cfg.sample_len, self.controls(), rng, xp,
                         never=self.class_tokens)
        return [self.detokenize(self.vocab.decode(s)) for s in ids]

    def evaluate(self, model, params, xp) -> dict[str, float]:
        metrics = self.lm_metrics(model, params, xp)
        samples = self.sample_classes(model, params, xp, self.cfg.num_samples, np.random.default_rng(0))
        flat = [(c, n) for c in CLASSES for n in samples[c]]
        known = [(c, n) for c, n in flat if any(n in self.known[k] for k in CLASSES)]
        return {**metrics, "val/bpc": metrics["val/loss"] / math.log(2),
                "sample/new_share": 1 - len(known) / len(flat),
                "sample/class_share": (sum(n in self.known[c] for c, n in known) / len(known)) if known else 0.0}

    def samples(self, model, params, xp) -> str:
        by_class = self.sample_classes(model, params, xp, self.cfg.num_samples, np.random.default_rng(0))
        return "\n".join(f"{c}: {n}{'' if any(n in self.known[k] for k in CLASSES) else '  (new)'}"
                         for c in CLASSES for n in by_class[c]) + "\n"
