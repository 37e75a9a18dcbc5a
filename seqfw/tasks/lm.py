"""What the language-model tasks share: next-token training with teacher forcing, likelihoods, sampling.

A sequence y<1> … y<n> is fed as ``<eos> y<1> … y<n>`` and predicts
``y<1> … y<n> <eos>`` (teacher forcing: the true previous token is the input).
P(sentence) = Π_t P(y<t> | y<1> … y<t-1>), including the final ``<eos>``.
"""
from __future__ import annotations

import math

import numpy as np

from ..engine.backend import to_host
from ..engine.losses import softmax_cross_entropy
from ..engine.models import sequence_model
from ..engine.models.decoding import log_softmax_rows
from ..engine.recurrence import length_mask
from .base import Task, require
from .data import DataError, pad_batch
from .sampling import MAX_SAMPLE_LEN, MAX_SAMPLES, sample_ids
from .vocab import EOS, Vocab

EVAL_CHUNK = 256  # validation sequences scored at once (a language model's head is as wide as its vocabulary)


def require_sampling(cfg) -> None:
    """Refuse ``task.num_samples`` / ``task.sample_len`` above what one sampling batch may hold."""
    for key, most in (("num_samples", MAX_SAMPLES), ("sample_len", MAX_SAMPLE_LEN)):
        require(getattr(cfg, key) <= most, key, getattr(cfg, key), f"must be at most {most:,} (samples are drawn "
                "as one batch at every evaluation)")


class LanguageModelTask(Task):
    """Subclasses set ``self.cfg`` (``embed_dim``, ``temperature``, ``sample_len``, ``num_samples``,
    ``data_seed``), implement ``tokenize`` / ``detokenize`` and call ``_load(train, val, vocab)``."""

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def detokenize(self, tokens: list[str]) -> str:
        raise NotImplementedError

    def _load(self, train: list[list[str]], val: list[list[str]], vocab: Vocab) -> None:
        self.train_tokens, self.val_tokens, self.vocab = train, val, vocab
        self._train = [self._encode(s) for s in train]
        self._val = [self._encode(s) for s in val]

    def _encode(self, tokens: list[str]) -> tuple[list[int], list[int]]:
        ids, eos = self.vocab.encode(tokens), self.vocab.stoi[EOS]
        return [eos] + ids, ids + [eos]

    @property
    def input_size(self) -> int:
        return self.cfg.embed_dim

    def eval_chunk(self) -> int:
        return min(len(self._val), EVAL_CHUNK)

    def build_model(self, net, kind: str, make_net=None):
        return sequence_model(kind, net, len(self.vocab), "softmax", len(self.vocab), self.cfg.embed_dim)

    def nll(self, model, params, xp, data, batch_size: int = EVAL_CHUNK) -> tuple[float, int]:
        """Total negative log-likelihood (nats) of ``data`` and its number of predicted tokens."""
        total, count = 0.0, 0
        for start in range(0, len(data), batch_size):
            chunk = data[start : start + batch_size]
            b = pad_batch([x for x, _ in chunk], [y for _, y in chunk])
            logits, _ = model.logits(params, xp.asarray(b.inputs), xp.asarray(b.lengths))
            loss, _ = softmax_cross_entropy(logits, xp.asarray(b.targets), length_mask(b.lengths, len(b.inputs), xp))
            total += loss * len(chunk)
            count += int(b.lengths.sum())
        return total, count

    def lm_metrics(self, model, params, xp) -> dict[str, float]:
        total, count = self.nll(model, params, xp, self._val)
        loss = total / count
        return {"val/loss": loss, "val/perplexity": math.exp(min(loss, 700.0)),
                "val/loss_per_sequence": total / len(self._val)}

    def sample(self, model, params, xp, n: int, rng, temperature: float | None = None) -> list[str]:
        """``n`` new sequences (each sample fed back in; stops at ``<eos>`` or ``task.sample_len``)."""
        starts = [self.vocab.stoi[EOS]] * n
        ids = sample_ids(model, params, self.vocab, starts, self.cfg.sample_len,
                         self.cfg.temperature if temperature is None else temperature, rng, xp)
        return [self.detokenize(self.vocab.decode(s)) for s in ids]

    def score(self, model, params, xp, text: str) -> tuple[float, list[tuple[str, float]]]:
        """log P(text) in nats and each token's log-probability (``<unk>`` for unknown words, then ``<eos>``)."""
        tokens = self.tokenize(text)
        if not tokens:
            raise DataError("nothing to score: the sentence has no tokens")
        x, y = self._encode(tokens)
        logits, _ = model.logits(params, xp.asarray(np.array(x)[:, None]), None)
        logp = log_softmax_rows(to_host(logits[:, 0]))
        per = [(self.vocab.itos[t], float(logp[i, t])) for i, t in enumerate(y)]
        return sum(v for _, v in per), per

    def predict_texts(self, model, params, xp, texts, rng) -> list[str]:
        """One new sample per input row (the row's text is not used)."""
        return self.sample(model, params, xp, len(texts), rng)

    def sample_text(self, names: list[str], known: set) -> str:
        return "\n".join(f"{n}{'' if n in known else '  (new)'}" for n in names) + "\n"
