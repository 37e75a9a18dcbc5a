"""``task=minimal_pairs``: a word-level language model used as a judge (lecture 1.6).

A language model trained on a generated corpus (``pairs_corpus``) scores both sentences of
a minimal pair — the same sentence with the right and the wrong word::

    the keys to the cabinet that the farmer saw  are / is  on the table .
    the apple and pear / pair salad is ready .

and is right when P(correct) > P(wrong), P(sentence) = Π_t P(y<t> | y<1> … y<t-1>) as for
``--score``. The agreement pairs are grouped by the distractor's length in words, so the
judgement is measured against the distance the model must carry the subject's number.

Metrics: ``judge/agreement`` (the share of agreement pairs judged right, chance 0.5),
``judge/agreement_<a>-<b>`` for distractors of a..b words (``judge/agreement_0`` for none),
``judge/homophones``, and the language model's ``val/loss``, ``val/perplexity`` (per word)
and ``val/loss_per_sequence`` on held-out sentences.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .base import TaskInfo, require, require_fits, require_fraction, require_positive, require_seed
from .lm import LanguageModelTask, require_sampling
from .pairs_corpus import Pair, agreement_pairs, corpus, homophone_pairs, longest_distractor
from .vocab import Vocab


@dataclass
class MinimalPairsConfig:
    name: str = "minimal_pairs"
    num_train: int = 20000  # generated training sentences
    num_val: int = 1000  # held-out sentences for val/perplexity
    max_phrases: int = 10  # distractor phrases (3-5 words each) between subject and verb: 0..max_phrases
    homophone_share: float = 0.3  # of the sentences, homophone ones (the rest: agreement)
    pairs_per_length: int = 150  # agreement pairs per number of distractor phrases (0..max_phrases)
    homophone_pairs: int = 300
    bin_words: int = 5  # agreement pairs are reported in bins of this many distractor words
    data_seed: int = 0
    embed_dim: int = 32
    num_samples: int = 12  # pairs shown at each evaluation (and sentences sampled)
    temperature: float = 1.0
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    sample_len: int = 40


def length_bins(distances: list[int], width: int, least: int) -> list[tuple[int, int]]:
    """(low, high) distractor-word bins of the agreement pairs' ``distances``: ``0`` alone (if any pair has
    none), then bins of ``width`` words (1-5, 6-10, ...), each widened over the next until it holds at
    least ``least`` pairs; what is left at the end joins the last bin, open-ended (high = -1). So every
    bin holds pairs and every distance falls in one."""
    counts = np.bincount(np.asarray(distances, dtype=np.int64), minlength=1)
    bins = [(0, 0)] if counts[0] else []
    low, held = 1, 0
    for start in range(1, len(counts), width):
        held += int(counts[start : start + width].sum())
        if held >= least:
            bins.append((low, start + width - 1))
            low, held = start + width, 0
    if held or not bins:  # a sparse tail: into the last bin, open-ended
        if bins and bins[-1][1] > 0:
            low = bins.pop()[0]
        bins.append((low, -1))
    return bins


def bin_name(low: int, high: int) -> str:
    """``0``, ``01-05``, ``21_or_more``: two digits, so that the bins sort by length wherever names are sorted."""
    return "0" if high == 0 else f"{low:02d}_or_more" if high < 0 else f"{low:02d}-{high:02d}"


class MinimalPairsTask(LanguageModelTask):
    name = "minimal_pairs"
    unit = "words"
    info = TaskInfo(topologies=("many_to_many",), bidirectional=False, metric="judge/agreement",
                    metrics=("judge/agreement", "judge/homophones", "val/perplexity", "val/loss",
                             "val/loss_per_sequence"),  # and judge/agreement_<bin>: reported_metrics()
                    summary="Learn to predict the next word of generated English, then judge minimal pairs: a pair is "
                            "judged right when P(correct sentence) > P(the same sentence with the wrong verb number "
                            "or the wrong homophone).",
                    chance="judge/agreement = judge/homophones = 0.5 (a model that cannot tell the two sentences "
                           "apart); a model that agrees the verb with the nearest noun scores below 0.5 on long "
                           "distractors")

    def __init__(self, cfg: MinimalPairsConfig):
        require_positive(cfg, "num_train", "num_val", "pairs_per_length", "homophone_pairs", "bin_words",
                         "embed_dim", "num_samples", "sample_len")
        require(0 <= cfg.max_phrases <= 20, "max_phrases", cfg.max_phrases, "must be between 0 and 20")
        require_fraction(cfg, "homophone_share")
        require_seed(cfg)
        require_sampling(cfg)
        # ~60 B a word as lists of str and int, a sentence of at most 8 + the distractor's words; doubled
        require_fits(cfg, "num_train", 120 * (8 + longest_distractor(cfg.max_phrases)), extra=cfg.num_val)
        self.cfg = cfg
        train_rng, val_rng, pair_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.data_seed).spawn(3))
        train = corpus(train_rng, cfg.num_train, cfg.max_phrases, cfg.homophone_share)
        val = corpus(val_rng, cfg.num_val, cfg.max_phrases, cfg.homophone_share)
        self.pairs = (agreement_pairs(pair_rng, cfg.pairs_per_length, cfg.max_phrases)
                      + homophone_pairs(pair_rng, cfg.homophone_pairs))
        self.known = {" ".join(s) for s in train}
        self._load(train, val, Vocab.build(train))
        # a bin of fewer pairs than a fifth of a phrase count's would be noise: widened until it has that many
        self._bins = length_bins([p.distance for p in self.pairs if p.kind == "agreement"], cfg.bin_words,
                                 max(1, cfg.pairs_per_length // 5))
        self._pair_ids = [(self._encode(p.good), self._encode(p.bad)) for p in self.pairs]

    def tokenize(self, text: str) -> list[str]:
        return text.lower().split()

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def bins(self) -> list[str]:
        """The distractor-length bins of the agreement pairs, shortest first."""
        return [bin_name(low, high) for low, high in self._bins]

    def bin_of(self, pair: Pair) -> str | None:
        """The name of the distractor-length bin of an agreement pair (None for a homophone pair)."""
        if pair.kind != "agreement":
            return None
        low, high = next((lo, hi) for lo, hi in self._bins if lo <= pair.distance and (hi < 0 or pair.distance <= hi))
        return bin_name(low, high)

    def reported_metrics(self) -> tuple[str, ...]:
        """``info.metrics`` and one ``judge/agreement_<bin>`` per distractor-length bin of this data."""
        first, *rest = self.info.metrics
        return (first, *(f"judge/agreement_{b}" for b in self.bins()), *rest)

    def describe(self) -> str:
        counts = {b: 0 for b in self.bins()}
        for p in self.pairs:
            if p.kind == "agreement":
                counts[self.bin_of(p)] += 1
        spread = ", ".join(f"{b}: {n}" for b, n in counts.items())
        return (f"minimal_pairs: {len(self.train_tokens)} train / {len(self.val_tokens)} validation sentences, "
                f"vocabulary {len(self.vocab)}; {sum(counts.values())} agreement pairs by distractor words ({spread}), "
                f"{self.cfg.homophone_pairs} homophone pairs")

    def pair_logps(self, model, params, xp) -> tuple[np.ndarray, np.ndarray]:
        """log P(correct) and log P(wrong) of every pair; the model judges a pair right where the first is larger."""
        good = self.token_logps(model, params, xp, [g for g, _ in self._pair_ids])
        bad = self.token_logps(model, params, xp, [b for _, b in self._pair_ids])
        return np.array([t.sum() for t in good]), np.array([t.sum() for t in bad])

    def judge_metrics(self, good: np.ndarray, bad: np.ndarray) -> dict[str, float]:
        right = good > bad
        kinds = np.array([p.kind for p in self.pairs])
        bins = np.array([self.bin_of(p) for p in self.pairs])
        agree = kinds == "agreement"
        metrics = {"judge/agreement": float(right[agree].mean()), "judge/homophones": float(right[~agree].mean())}
        for b in self.bins():
            metrics[f"judge/agreement_{b}"] = float(right[agree & (bins == b)].mean())
        return metrics

    def evaluate(self, model, params, xp) -> dict[str, float]:
        return {**self.lm_metrics(model, params, xp), **self.judge_metrics(*self.pair_logps(model, params, xp))}

    def shown_pairs(self) -> list[int]:
        """The pairs ``samples`` shows: the first of each distractor-length bin, then homophones up to num_samples."""
        firsts = {}
        for i, p in enumerate(self.pairs):
            if p.kind == "agreement":
                firsts.setdefault(self.bin_of(p), i)
        shown = [firsts[b] for b in self.bins()]
        homophones = [i for i, p in enumerate(self.pairs) if p.kind == "homophone"]
        return shown + homophones[: max(self.cfg.num_samples - len(shown), 2)]

    def samples(self, model, params, xp) -> str:
        """Pairs with both log-probabilities (the wrong word in brackets), then a few sampled sentences."""
        good, bad = self.pair_logps(model, params, xp)
        lines = ["log P(correct)  log P(wrong)  judged  sentence [correct/wrong]"]
        for i in self.shown_pairs():
            p = self.pairs[i]
            at = next(k for k, (g, w) in enumerate(zip(p.good, p.bad)) if g != w)
            text = " ".join(p.good[:at] + [f"[{p.good[at]}/{p.bad[at]}]"] + p.good[at + 1:])
            where = f"{p.distance} distractor words" if p.kind == "agreement" else "homophone"
            lines.append(f"{good[i]:14.2f}  {bad[i]:12.2f}  {'right' if good[i] > bad[i] else 'WRONG':>6}  "
                         f"{text}  ({where})")
        sampled = self.sample(model, params, xp, min(self.cfg.num_samples, 5), np.random.default_rng(self.cfg.data_seed))
        return "\n".join(lines) + "\n\nsampled sentences:\n" + self.sample_text(sampled, self.known)


__all__ = ["MinimalPairsConfig", "MinimalPairsTask", "Pair", "bin_name", "length_bins"]
