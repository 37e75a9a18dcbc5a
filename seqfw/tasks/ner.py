"""``task=ner``: named-entity tagging, many-to-many with T_y = T_x (the course's running example)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..engine.models import ManyToMany
from .base import EVAL_CHUNK, Task, TaskInfo, predict_tags, require_fits, require_fraction, require_positive, require_seed
from .data import DataError, pad_batch, read_text
from .ner_corpus import TAGS, Sentence, entity_spans, generate
from .vocab import Vocab

FORMAT = ("one 'token tag' pair per line (white space between), a blank line between sentences, "
          f"tags in BIO form from {', '.join(TAGS)}")


@dataclass
class NERConfig:
    name: str = "ner"
    num_sentences: int = 4000  # generated corpus size (train + validation)
    val_fraction: float = 0.15
    ambiguous_fraction: float = 0.25  # share of sentences with a token only the next word disambiguates
    data_seed: int = 0  # the corpus is fixed by this, independent of the training seed
    embed_dim: int = 32
    num_samples: int = 8  # validation sentences shown at each evaluation
    # your own tagged corpus instead of the generated one (num_sentences/ambiguous_fraction/data_seed
    # then do not apply): "token tag" per line, a blank line between sentences, CoNLL style; the first
    # val_fraction of the sentences are the validation set
    path: Optional[str] = None


class NERTask(Task):
    """Tag every token with O / B-PER / I-PER / B-LOC / I-LOC / B-ORG / I-ORG.

    Metrics (validation): ``token_accuracy`` over real tokens, ``entity_f1``
    (exact span and type, micro-averaged), ``ambiguous_accuracy`` on the tokens
    that only the following word disambiguates ("Teddy bears" / "Teddy Roosevelt").
    """

    name = "ner"
    info = TaskInfo(topologies=("many_to_many",), bidirectional=True, metric="val/entity_f1",
                    metrics=("val/entity_f1", "val/token_accuracy", "val/ambiguous_accuracy"),
                    summary="Tag every token of a sentence with its named-entity tag (O, or B-/I- of PER, LOC, ORG).",
                    chance="always the majority tag O: val/token_accuracy ≈ 0.69 on the generated corpus, "
                           "val/entity_f1 = 0; val/ambiguous_accuracy ≈ 0.5 for a model that cannot read the next "
                           "word (only it tells the two readings apart)")
    BYTES_PER_SENTENCE = 3000  # generated, tokenised and encoded: ~1.5 kB measured, doubled

    def __init__(self, cfg: NERConfig):
        require_positive(cfg, "num_sentences", "embed_dim", "num_samples")
        require_fraction(cfg, "val_fraction", "ambiguous_fraction")
        require_seed(cfg)
        self.cfg = cfg
        if cfg.path is None:
            require_fits(cfg, "num_sentences", self.BYTES_PER_SENTENCE)
            sentences = generate(cfg.num_sentences, cfg.data_seed, cfg.ambiguous_fraction)
        else:
            sentences = read_tagged(cfg.path)
        n_val = max(1, int(round(cfg.val_fraction * len(sentences))))
        if n_val >= len(sentences):
            what = f"task.path={cfg.path!r} holds {len(sentences)} sentence(s)" if cfg.path else \
                f"task.num_sentences={cfg.num_sentences}"
            raise DataError(f"{what}: too few for a train/validation split; at least 2 are needed "
                             f"(and more for a useful model)")
        self.train, self.val = sentences[n_val:], sentences[:n_val]
        self.vocab = Vocab.build(s.tokens for s in self.train)
        self.tag_ids = {t: i for i, t in enumerate(TAGS)}
        self._train = [(self.vocab.encode(s.tokens), [self.tag_ids[t] for t in s.tags]) for s in self.train]
        self._val = [(self.vocab.encode(s.tokens), [self.tag_ids[t] for t in s.tags]) for s in self.val]

    def describe(self) -> str:
        n_amb = sum(bool(s.ambiguous) for s in self.val)
        return (f"ner: {len(self.train)} train / {len(self.val)} validation sentences "
                f"({n_amb} validation ambiguous tokens), vocabulary {len(self.vocab)}, {len(TAGS)} tags")

    def reported_metrics(self) -> tuple[str, ...]:
        """``val/ambiguous_accuracy`` only where the validation set has ambiguous tokens (a file has none)."""
        amb = any(s.ambiguous for s in self.val)
        return tuple(m for m in super().reported_metrics() if amb or m != "val/ambiguous_accuracy")

    @property
    def input_size(self) -> int:
        return self.cfg.embed_dim

    def build_model(self, net, kind: str, make_net=None):
        return ManyToMany(net, len(TAGS), "softmax", len(self.vocab), self.cfg.embed_dim)

    def _predict(self, model, params, xp, batch_size: int = EVAL_CHUNK) -> list[list[str]]:
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
        metrics = {"val/token_accuracy": correct / total, "val/entity_f1": f1}
        if amb_total:  # the generated corpus marks its ambiguous tokens; a user's file has none
            metrics["val/ambiguous_accuracy"] = amb_ok / amb_total
        return metrics

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


def read_tagged(path: str) -> list[Sentence]:
    """A tagged corpus file (``FORMAT``) as sentences, or a DataError naming the first bad line."""
    text = read_text(path, key="task.path")
    sentences, tokens, tags = [], [], []
    known = set(TAGS)
    for number, line in enumerate(text.splitlines() + [""], start=1):
        fields = line.split()
        if not fields:
            if tokens:
                sentences.append(Sentence(tokens, tags, []))
                tokens, tags = [], []
            continue
        if len(fields) != 2:
            raise DataError(f"task.path={path!r}, line {number}: expected a token and its tag, got {len(fields)} "
                             f"field(s) ({line.strip()[:60]!r}); the file must have {FORMAT}")
        if fields[1] not in known:
            raise DataError(f"task.path={path!r}, line {number}: unknown tag {fields[1]!r}; the file must have "
                             f"{FORMAT}")
        tokens.append(fields[0])
        tags.append(fields[1])
    if not sentences:
        raise DataError(f"task.path={path!r} holds no sentences (it is empty or blank); the file must have {FORMAT}")
    return sentences
