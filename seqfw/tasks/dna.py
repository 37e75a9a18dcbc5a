"""``task=dna``: tag every base of a genome as inside or outside a region, beside the best any tagger can do.

Lecture 1.1's DNA example. The genomes are sampled from a hidden Markov model whose parameters
are the task's settings (``task.hmm.*``); each base is labelled by its hidden state: inside the
region of interest (``task.hmm.inside``) or outside. By default the model is CpG-island-like,
two states over the bases A C G T::

    outside  A .3    C .2    G .2    T .3     stays with 0.98 (regions ~50 bases)
    island   A .125  C .375  G .375  T .125   stays with 0.97 (regions ~33 bases)

Because the model that made the data is known, the best achievable accuracy is too: posterior
decoding (forward–backward, ``seqfw.tasks.hmm``; at each base the label whose states hold the
larger share of P(z_t | the whole sequence)) is Bayes-optimal per base, and is reported as
``val/bayes_accuracy`` beside the network's ``val/accuracy``, with ``val/gap_to_bayes`` their
difference. A reader that only sees the bases so far can do no better than filtering
(P(z_t | x_1..x_t)): ``val/causal_bayes_accuracy``, the ceiling of a left-to-right RNN. Unidirectional
networks can reach the causal bound at best; a bidirectional one, the Bayes bound.

Default data (200 validation sequences of 500 bases, ``data_seed`` 0), measured
(tests/tasks/test_chance_levels.py): Bayes (posterior decoding) 0.892, causal (filtering) 0.827,
always "outside" (the majority label) 0.599. Over 400 other sequences (another draw) they were
0.897, 0.831 and 0.592: the gap of ~6.5 points between the two readers is the model's, not the sample's.
The validation set, and so both bounds, depend only on ``data_seed``, ``num_val``, ``length`` and
the HMM: ``num_train`` changes the training set alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.errors import SettingError
from ..engine.models import ManyToMany
from .base import EVAL_CHUNK, Task, TaskInfo, predict_tags, require, require_fits, require_positive, require_seed
from .data import DataError, pad_batch
from .hmm import HMM, HMMError

BASES = "ACGT"
LABELS = ".I"  # 0 outside, 1 inside the region
WINDOW = 80  # bases shown per sample stretch


# Typed Any, not List[List[float]]: OmegaConf refuses whole numbers in a nested float list
# (``[[1, 0], [0, 1]]``) and a bare name for a list (``inside=island``) with its own messages;
# ``make_hmm`` checks every one of them itself and names the key.
@dataclass
class HMMConfig:
    states: Any = field(default_factory=lambda: ["outside", "island"])
    inside: Any = field(default_factory=lambda: ["island"])  # the states labelled "inside the region"
    start: Any = field(default_factory=lambda: [0.6, 0.4])  # P(z_1); here the stationary distribution
    transition: Any = field(default_factory=lambda: [[0.98, 0.02], [0.03, 0.97]])  # row: from
    # one row per state, one column per base A C G T
    emission: Any = field(default_factory=lambda: [[0.3, 0.2, 0.2, 0.3], [0.125, 0.375, 0.375, 0.125]])


@dataclass
class DNAConfig:
    name: str = "dna"
    num_train: int = 1000  # training sequences
    num_val: int = 200  # validation sequences (both Bayes bounds are measured on them)
    length: int = 500  # bases per sequence
    data_seed: int = 0  # the genomes are fixed by this, independent of the training seed
    embed_dim: int = 8
    num_samples: int = 4  # validation stretches shown at each evaluation
    hmm: HMMConfig = field(default_factory=HMMConfig)


def _names(value) -> list:
    """A list of state names as given: one bare name (``inside=island``) is a list of one."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def make_hmm(cfg: HMMConfig) -> tuple[HMM, np.ndarray]:
    """The HMM of ``task.hmm.*`` and the (K,) mask of its inside states, or a SettingError naming the key."""
    states = _names(cfg.states)
    require(len(states) >= 1 and all(isinstance(s, str) and s for s in states), "hmm.states", states,
            "must name each state (at least one, non-empty names)")
    require(len(set(states)) == len(states), "hmm.states", states, "must name each state once")
    inside_names = _names(cfg.inside)
    unknown = [s for s in inside_names if s not in states]
    require(not unknown, "hmm.inside", inside_names,
            f"must list states from task.hmm.states ({', '.join(states)}); unknown: {', '.join(map(str, unknown))}")
    inside = np.isin(states, inside_names)
    require(inside.any() and not inside.all(), "hmm.inside", inside_names,
            f"must name at least one of the states ({', '.join(states)}) and leave at least one outside")
    emission = cfg.emission
    for i, row in enumerate(emission if isinstance(emission, (list, tuple)) else []):
        require(isinstance(row, (list, tuple)), "hmm.emission", emission,
                f"must be a list of rows, one per state, each of {len(BASES)} probabilities for the bases "
                f"{' '.join(BASES)} (row {i} is {row!r})")
        state = repr(states[i]) if i < len(states) else "(none: more rows than states)"
        require(len(row) == len(BASES), "hmm.emission", emission,
                f"must have {len(BASES)} columns, one per base {' '.join(BASES)} (row {i}, state {state}, has {len(row)})")
    try:
        return HMM(cfg.start, cfg.transition, emission, states=tuple(states)), inside
    except HMMError as err:
        raise SettingError("task", f"hmm.{err.name}", err.value, err.requirement) from None


class DNATask(Task):
    """Tag each base as inside (``I``) or outside (``.``) a region; the network's accuracy beside the Bayes bounds.

    Metrics (validation, per base): ``accuracy``; ``bayes_accuracy`` (posterior decoding with the true HMM:
    the best any tagger can do), ``causal_bayes_accuracy`` (filtering: the best a left-to-right reader can
    do) and ``gap_to_bayes`` = bayes_accuracy - accuracy.
    """

    name = "dna"
    info = TaskInfo(topologies=("many_to_many",), bidirectional=True, metric="val/accuracy",
                    metrics=("val/accuracy", "val/bayes_accuracy", "val/causal_bayes_accuracy", "val/gap_to_bayes"),
                    summary="Tag every base of a genome sampled from a known hidden Markov model as inside or "
                            "outside a CpG-island-like region, beside the Bayes-optimal accuracy.",
                    chance="always the majority label (outside): val/accuracy ≈ 0.60 on the default data; the "
                           "best possible is val/bayes_accuracy ≈ 0.89, and ≈ 0.83 reading left to right "
                           "(val/causal_bayes_accuracy)")

    def __init__(self, cfg: DNAConfig):
        require_positive(cfg, "num_train", "num_val", "length", "embed_dim", "num_samples")
        require_seed(cfg)
        self.hmm, self.inside = make_hmm(cfg.hmm)
        # per base: states, bases and labels (int64) and, while they are drawn, the (K or 4) cumulative
        # probabilities; the validation set's forward-backward arrays: ~(48 + 40 K) bytes measured, doubled
        require_fits(cfg, "num_train", 2 * (48 + 40 * self.hmm.num_states) * cfg.length + 500,
                     extra=cfg.num_val, size_key="length")
        self.cfg = cfg
        rng = np.random.default_rng(cfg.data_seed)
        # validation first: it (and the bounds measured on it) does not change with num_train
        self.val_states, self.val_bases = self.hmm.sample(rng, cfg.length, cfg.num_val)
        train_states, train_bases = self.hmm.sample(rng, cfg.length, cfg.num_train)
        self.val_labels = self.inside[self.val_states].astype(np.int64)
        self._train = list(zip(train_bases, self.inside[train_states].astype(np.int64)))
        self._val = list(zip(self.val_bases, self.val_labels))
        self.bayes_pred = self.label_of(self.hmm.posteriors(self.val_bases)[0])
        self.causal_pred = self.label_of(self.hmm.filtered(self.val_bases))
        self.bayes_accuracy = float((self.bayes_pred == self.val_labels).mean())
        self.causal_bayes_accuracy = float((self.causal_pred == self.val_labels).mean())
        self.majority_share = float(max(self.val_labels.mean(), 1 - self.val_labels.mean()))

    def label_of(self, probs: np.ndarray) -> np.ndarray:
        """Per base, 1 where the inside states hold more than half of ``probs`` (.., K) (a tie: outside)."""
        return (probs[..., self.inside].sum(axis=-1) > 0.5).astype(np.int64)

    def describe(self) -> str:
        c = self.cfg
        return (f"dna: {c.num_train} train / {c.num_val} validation sequences of {c.length} bases from a "
                f"{self.hmm.num_states}-state HMM (inside: {', '.join(_names(c.hmm.inside))}); on the validation set the "
                f"Bayes bound is {self.bayes_accuracy:.3f}, left to right {self.causal_bayes_accuracy:.3f}, "
                f"the majority label {self.majority_share:.3f}")

    @property
    def input_size(self) -> int:
        return self.cfg.embed_dim

    def build_model(self, net, kind: str, make_net=None):
        return ManyToMany(net, len(LABELS), "softmax", len(BASES), self.cfg.embed_dim)

    def _predict(self, model, params, xp, batch_size: int = EVAL_CHUNK) -> np.ndarray:
        """(num_val, length) the network's label per validation base."""
        out = []
        for start in range(0, len(self._val), batch_size):
            chunk = self._val[start : start + batch_size]
            pred, _ = predict_tags(model, params, pad_batch([x for x, _ in chunk], [y for _, y in chunk]), xp)
            out.append(pred.T)  # (T, B) -> (B, T); every sequence has the same length
        return np.concatenate(out)

    def evaluate(self, model, params, xp) -> dict[str, float]:
        accuracy = float((self._predict(model, params, xp) == self.val_labels).mean())
        return {"val/accuracy": accuracy, "val/bayes_accuracy": self.bayes_accuracy,
                "val/causal_bayes_accuracy": self.causal_bayes_accuracy,
                "val/gap_to_bayes": self.bayes_accuracy - accuracy}

    def predict_texts(self, model, params, xp, texts, rng) -> list[str]:
        """Bases in (A, C, G, T, either case), one label per base out ("ACGGCGCAT" -> "..IIIII..")."""
        ids = [encode(t, i) for i, t in enumerate(texts)]
        filled = [x for x in ids if len(x)]
        out = iter([])
        if filled:
            pred, _ = predict_tags(model, params, pad_batch(filled, filled), xp)
            out = iter(["".join(LABELS[i] for i in pred[: len(x), b]) for b, x in enumerate(filled)])
        return [next(out) if len(x) else "" for x in ids]

    def samples(self, model, params, xp) -> str:
        """A stretch of a few validation sequences, aligned: bases, truth, network, the two Bayes decoders."""
        pred = self._predict(model, params, xp)
        width = min(WINDOW, self.cfg.length)
        blocks = []
        for i in range(min(self.cfg.num_samples, self.cfg.num_val)):
            truth = self.val_labels[i]
            edges = np.flatnonzero(np.diff(truth)) + 1  # show a region boundary where there is one
            at = 0 if not edges.size else int(np.clip(edges[0] - width // 2, 0, self.cfg.length - width))
            span = slice(at, at + width)
            rows = [("truth", truth[span], None), ("network", pred[i, span], None),
                    ("Bayes", self.bayes_pred[i, span], "all bases read"),
                    ("causal", self.causal_pred[i, span], "left to right")]
            lines = [f"sequence {i}, bases {at + 1}-{at + width}:",
                     f"  {'bases':<8} {''.join(BASES[b] for b in self.val_bases[i, span])}"]
            for label, row, note in rows:
                text = "".join(LABELS[v] for v in row)
                score = "" if label == "truth" else f"  {np.mean(row == truth[span]):.0%}"
                lines.append(f"  {label:<8} {text}{score}{f'  ({note})' if note else ''}")
            blocks.append("\n".join(lines))
        return (f"{LABELS[1]} inside ({', '.join(_names(self.cfg.hmm.inside))}), {LABELS[0]} outside; each line's accuracy "
                "over the stretch\n\n" + "\n\n".join(blocks) + "\n")


_CODE = np.full(128, -1, dtype=np.int64)
for _i, _b in enumerate(BASES):
    _CODE[ord(_b)] = _CODE[ord(_b.lower())] = _i


def encode(text: str, index: int = 0) -> np.ndarray:
    """Base ids of ``text`` (A C G T, either case), or a DataError naming the first other character."""
    codes = np.array([ord(ch) for ch in text], dtype=np.int64)  # any str, lone surrogates too
    ids = np.where(codes < 128, _CODE[np.minimum(codes, 127)], -1)
    bad = np.flatnonzero(ids < 0)
    if bad.size:
        j = int(bad[0])
        raise DataError(f"a DNA sequence may hold only the bases A, C, G, T (either case): text {index} has "
                        f"{text[j]!r} at position {j + 1}; remove it or write it as a base")
    return ids
