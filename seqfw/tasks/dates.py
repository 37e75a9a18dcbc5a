"""``task=dates``: human-readable dates in many formats -> ISO 8601 (encoder–decoder, T_x ≠ T_y).

    "saturday, march 14, 1998"  -> 1998-03-14
    "14.03.1998"                -> 1998-03-14
    "Mar 14 1998"               -> 1998-03-14

Generated with the standard library (``datetime``, English month and day names);
character level on both sides. Metric: ``val/exact_match`` of the decoded string
(greedy, or beam search with ``task.beam_size`` > 1).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from ..engine.models import EncoderDecoder
from .base import Batch, Task, TaskInfo, require_fits, require_positive, require_seed
from .data import pad_batch
from .vocab import EOS, Vocab

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# each maps a date to one human spelling; day-first numeric only, so no spelling is ambiguous
FORMATS = [
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{DAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{d.year}-{d.month:02d}-{d.day:02d}",
    lambda d: f"{d.day} of {MONTHS[d.month - 1]} {d.year}",
]
START, END = dt.date(1900, 1, 1).toordinal(), dt.date(2099, 12, 31).toordinal()
EVAL_CHUNK = 500  # validation dates decoded at once


@dataclass
class DatesConfig:
    name: str = "dates"
    num_train: int = 20000
    num_val: int = 1000
    data_seed: int = 0
    embed_dim: int = 32
    beam_size: int = 1  # 1 = greedy decoding
    num_samples: int = 10


def make_pair(rng: np.random.Generator) -> tuple[str, str]:
    date = dt.date.fromordinal(int(rng.integers(START, END + 1)))
    text = FORMATS[rng.integers(len(FORMATS))](date)
    case = rng.integers(3)
    text = text.lower() if case == 0 else text.upper() if case == 1 and rng.random() < 0.3 else text
    return text, date.isoformat()


class DatesTask(Task):
    name = "dates"
    info = TaskInfo(topologies=("encoder_decoder",), bidirectional=True, metric="val/exact_match",
                    default_topology="encoder_decoder", metrics=("val/exact_match",),
                    summary="Rewrite a date as people write it (\"saturday, march 14, 1998\") in ISO 8601 "
                            "(1998-03-14).",
                    chance="val/exact_match ≈ 0: a guess names one of the 73,049 days of 1900-2099")

    def __init__(self, cfg: DatesConfig):
        require_positive(cfg, "num_train", "num_val", "embed_dim", "beam_size", "num_samples")
        require_seed(cfg)
        require_fits(cfg, "num_train", 1500, extra=cfg.num_val)  # ~0.75 kB a pair measured, doubled
        self.cfg = cfg
        rng = np.random.default_rng(cfg.data_seed)
        pairs = [make_pair(rng) for _ in range(cfg.num_train + cfg.num_val)]
        self.val, self.train = pairs[: cfg.num_val], pairs[cfg.num_val:]
        self.src_vocab = Vocab.build(list(s) for s, _ in self.train)
        self.tgt_vocab = Vocab.build(list(t) for _, t in self.train)
        self._train = [self._encode(s, t) for s, t in self.train]
        self._val = [self._encode(s, t) for s, t in self.val]

    def _encode(self, src: str, tgt: str):
        eos = self.tgt_vocab.stoi[EOS]
        ids = self.tgt_vocab.encode(list(tgt))
        return self.src_vocab.encode(list(src)), [eos] + ids, ids + [eos]

    def describe(self) -> str:
        return (f"dates: {len(self.train)} train / {len(self.val)} validation pairs in {len(FORMATS)} formats, "
                f"{len(self.src_vocab)} source / {len(self.tgt_vocab)} target symbols")

    @property
    def input_size(self) -> int:
        return self.cfg.embed_dim

    def build_model(self, net, kind: str, make_net=None):
        decoder = make_net(bidirectional=False)
        return EncoderDecoder(len(self.src_vocab), len(self.tgt_vocab), self.cfg.embed_dim, net, decoder)

    def _batch(self, items) -> Batch:
        src = pad_batch([s for s, _, _ in items], [0] * len(items))
        tgt = pad_batch([t_in for _, t_in, _ in items], [t_out for _, _, t_out in items])
        return Batch(src.inputs, tgt.targets, src.lengths, tgt.inputs, tgt.lengths)

    def train_batch(self, rng, batch_size: int) -> Batch:
        return self._batch([self._train[i] for i in rng.integers(0, len(self._train), size=batch_size)])

    def curve_batch(self) -> Batch:
        return self._batch(self._val[:64])

    def eval_chunk(self) -> int:
        return min(len(self._val), EVAL_CHUNK)

    def batch_steps(self) -> tuple[int, int]:
        return max(len(s) for s, _, _ in self._train), max(len(t) for _, t, _ in self._train)

    def decode(self, model, params, xp, items) -> list[str]:
        b = self._batch(items)
        src, lengths = xp.asarray(b.inputs), xp.asarray(b.lengths)
        eos, limit = self.tgt_vocab.stoi[EOS], 12
        if self.cfg.beam_size > 1:
            ids = model.beam_search(params, src, lengths, eos, eos, limit, self.cfg.beam_size)
        else:
            ids = model.greedy(params, src, lengths, eos, eos, limit)
        return ["".join(self.tgt_vocab.decode(s)) for s in ids]

    def predict_texts(self, model, params, xp, texts, rng) -> list[str]:
        """A date as people write it in, ISO 8601 out."""
        items = [(self.src_vocab.encode(list(t)) or [self.src_vocab.stoi["<unk>"]], [0], [0]) for t in texts]
        return self.decode(model, params, xp, items)

    def evaluate(self, model, params, xp) -> dict[str, float]:
        preds = []
        for start in range(0, len(self._val), EVAL_CHUNK):
            preds += self.decode(model, params, xp, self._val[start : start + EVAL_CHUNK])
        return {"val/exact_match": float(np.mean([p == t for p, (_, t) in zip(preds, self.val)]))}

    def samples(self, model, params, xp) -> str:
        n = self.cfg.num_samples
        preds = self.decode(model, params, xp, self._val[:n])
        rows = [f"{s:<36} {t}  {p}{'' if p == t else '  ✗'}" for (s, t), p in zip(self.val[:n], preds)]
        return "source / gold / predicted\n" + "\n".join(rows) + "\n"
