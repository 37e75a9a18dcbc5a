"""Shared by the sequence-classification tasks: token sequences in, one class out."""
from __future__ import annotations

import numpy as np

from ..engine.losses import softmax_cross_entropy
from ..engine.models import sequence_model
from .base import EVAL_CHUNK, Task, predict_tags
from .data import pad_batch
from .vocab import Vocab


class ClassifyTask(Task):
    """Subclasses set ``classes``, ``self.cfg`` (with ``embed_dim``, ``num_samples``) and call ``_load(train, val)``
    with lists of ``(tokens, label index)``. Metrics: ``val/accuracy``, ``val/loss``."""

    classes: tuple[str, ...] = ()

    def _load(self, train: list, val: list) -> None:
        self.train, self.val = train, val
        self.vocab = Vocab.build(tokens for tokens, _ in train)
        self._train = [(self.vocab.encode(t), y) for t, y in train]
        self._val = [(self.vocab.encode(t), y) for t, y in val]

    @property
    def input_size(self) -> int:
        return self.cfg.embed_dim

    def build_model(self, net, kind: str, make_net=None):
        return sequence_model(kind, net, len(self.classes), "softmax", len(self.vocab), self.cfg.embed_dim)

    def predict(self, model, params, xp, batch_size: int = EVAL_CHUNK) -> tuple[np.ndarray, float]:
        """Predicted class per validation sentence, and the validation loss (per sentence)."""
        preds, loss = [], 0.0
        for start in range(0, len(self._val), batch_size):
            chunk = self._val[start : start + batch_size]
            batch = pad_batch([x for x, _ in chunk], [y for _, y in chunk])
            pred, logits = predict_tags(model, params, batch, xp)
            loss += softmax_cross_entropy(logits, xp.asarray(batch.targets))[0] * len(chunk)
            preds.append(pred)
        return np.concatenate(preds), loss / len(self._val)

    def evaluate(self, model, params, xp) -> dict[str, float]:
        pred, loss = self.predict(model, params, xp)
        gold = np.array([y for _, y in self._val])
        return {"val/accuracy": float((pred == gold).mean()), "val/loss": loss}

    def predict_texts(self, model, params, xp, texts, rng) -> list[str]:
        """Whitespace-separated words in, the class out."""
        ids = [self.vocab.encode(t.split()) or [self.vocab.stoi["<unk>"]] for t in texts]
        pred, _ = predict_tags(model, params, pad_batch(ids, [0] * len(ids)), xp)
        return [self.classes[int(i)] for i in pred]

    def samples(self, model, params, xp) -> str:
        pred, _ = self.predict(model, params, xp)
        lines = []
        for i in range(min(self.cfg.num_samples, len(self.val))):
            tokens, gold = self.val[i]
            mark = "" if pred[i] == gold else "  ✗"
            lines.append(f"{self.classes[gold]:>9} | {self.classes[pred[i]]:>9}{mark} | {' '.join(tokens)}")
        return "gold | predicted | sentence\n" + "\n".join(lines) + "\n"
