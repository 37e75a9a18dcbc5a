"""``task=ner``: named-entity tagging, many-to-many with T_y = T_x (the course's running example)."""
from __future__ import annotations

from dataclasses import dataclass


from ..topologies import ManyToMany
from .base import Task, TaskInfo, pad_batch, predict_tags, require_positive
from .ner_corpus import TAGS, entity_spans, generate
from .vocab import Vocab


@dataclass
class NERConfig:
    name: str = "ner"
    num_sentences: int = 4000  # generated corpus size (train + validation)
    val_fraction: float = 0.15
    ambiguous_fraction: float = 0.25  # share of sentences with a token only the next word disambiguates
    data_seed: int = 0  # the corpus is fixed by this, independent of the training seed
    embed_dim: int = 32
    num_samples: int = 8  # validation sentences shown at each evaluation


class NERTask(Task):
    """Tag every token with O / B-PER / I-PER / B-LOC / I-LOC / B-ORG / I-ORG.

    Metrics (validation): ``token_accuracy`` over real tokens, ``entity_f1``
    (exact span and type, micro-averaged), ``ambiguous_accuracy`` on the tokens
    that only the following word disambiguates ("Teddy bears" / "Teddy Roosevelt").
    """

    name = "ner"
    info = TaskInfo(topologies=("many_to_many",), bidirectional=True, metric="val/entity_f1")

    def __init__(self, cfg: NERConfig):
        require_positive(cfg, "num_sentences", "embed_dim", "num_samples")
        for key in ("val_fraction", "ambiguous_fraction"):
            if not 0.0 < getattr(cfg, key) < 1.0:
                raise ValueError(f"task.{key} must be strictly between 0 and 1, got {getattr(cfg, key)}")
        self.cfg = cfg
        sentences = generate(cfg.num_sentences, cfg.data_seed, cfg.ambiguous_fraction)
        n_val = max(1, int(round(cfg.val_fraction * len(sentences))))
        if n_val >= len(sentences):
            raise ValueError(f"task.num_sentences={cfg.num_sentences} is too small for a train/validation split")
        self.train, self.val = sentences[n_val:], sentences[:n_val]
        self.vocab = Vocab.build(s.tokens for s in self.train)
        self.tag_ids = {t: i for i, t in enumerate(TAGS)}
        self._train = [(self.vocab.encode(s.tokens), [self.tag_ids[t] for t in s.tags]) for s in self.train]
        self._val = [(self.vocab.encode(s.tokens), [self.tag_ids[t] for t in s.tags]) for s in self.val]

    def describe(self) -> str:
        n_amb = sum(bool(s.ambiguous) for s in self.val)
        return (f"ner: {len(self.train)} train / {len(self.val)} validation sentences "
                f"({n_amb} validation ambiguous tokens), vocabulary {len(self.vocab)}, {len(TAGS)} tags")

    @property
    def input_size(self) -> int:
        return self.cfg.embed_dim

    def build_model(self, net, kind: str, make_net=None):
        return ManyToMany(len(self.vocab), self.cfg.embed_dim, net, len(TAGS))

    def _predict(self, model, params, xp, batch_size: int = 512) -> list[list[str]]:
        out = []
        for start in range(0, len(self._val), batch_size):
            chunk = self._val[start : start + batch_size]
            batch = pad_batch([x for x, _ in chunk], [y for _, y in chunk])
            pred, _ = predict_tags(model, params, batch, xp)
            out += [[TAGS[i] for i in pred[: len(x), b]] for b, (x, _) in enumerate(chunk)]
        return out

    def evaluate(self, model, params, xp) -> dict[str, float]:
        preds = self._predict(model, params, xp)
        correct = total = amb_ok = amb_total = tp = n_pred = n_gold = 0
        for sent, pred in zip(self.val, preds):
            correct += sum(p == g for p, g in zip(pred, sent.tags))
            total += len(sent.tags)
            amb_ok += sum(pred[i] == sent.tags[i] for i in sent.ambiguous)
            amb_total += len(sent.ambiguous)
            gold, guess = entity_spans(sent.tags), entity_spans(pred)
            tp, n_pred, n_gold = tp + len(gold & guess), n_pred + len(guess), n_gold + len(gold)
        precision, recall = tp / max(n_pred, 1), tp / max(n_gold, 1)
        f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
        return {"val/token_accuracy": correct / total, "val/entity_f1": f1,
                "val/ambiguous_accuracy": amb_ok / max(amb_total, 1)}

    def predict_texts(self, model, params, xp, texts, rng) -> list[str]:
        """Whitespace-separated tokens in, their tags out ("Teddy Roosevelt was here" -> "B-PER I-PER O O")."""
        ids = [self.vocab.encode(t.split()) or [self.vocab.stoi["<unk>"]] for t in texts]
        pred, _ = predict_tags(model, params, pad_batch(ids, ids), xp)
        return [" ".join(TAGS[i] for i in pred[: len(x), b]) for b, x in enumerate(ids)]

    def samples(self, model, params, xp) -> str:
        """Validation sentences as token / gold / predicted columns; ✗ marks a mistake."""
        n = self.cfg.num_samples
        amb = [i for i, s in enumerate(self.val) if s.ambiguous][: n // 2]
        rest = [i for i, s in enumerate(self.val) if not s.ambiguous][: n - len(amb)]
        preds = self._predict(model, params, xp)
        blocks = []
        for i in sorted(amb + rest):
            sent, pred = self.val[i], preds[i]
            width = max(map(len, sent.tokens))
            lines = [f"# {' '.join(sent.tokens)}"]
            for j, (tok, gold, guess) in enumerate(zip(sent.tokens, sent.tags, pred)):
                mark = "" if gold == guess else "  ✗"
                amb_mark = "  (ambiguous)" if j in sent.ambiguous else ""
                lines.append(f"{tok:<{width}}  {gold:<6} {guess:<6}{mark}{amb_mark}")
            blocks.append("\n".join(lines))
        return "token / gold / predicted\n\n" + "\n\n".join(blocks) + "\n"
