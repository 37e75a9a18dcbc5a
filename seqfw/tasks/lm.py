"""What the language-model tasks share: next-token training with teacher forcing, likelihoods, sampling.

A sequence y<1> … y<n> is fed as ``<eos> y<1> … y<n>`` and predicts
``y<1> … y<n> <eos>`` (teacher forcing: the true previous token is the input).
P(sentence) = Π_t P(y<t> | y<1> … y<t-1>), including the final ``<eos>``.

Samples (``seqfw.tasks.sampling``) are drawn with the task's ``temperature``, ``top_k`` and
``top_p`` unless a request gives its own; a request for greedy decoding (temperature 0)
drops the task's top-k and top-p, which do not apply to it.
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
from .sampling import MAX_SAMPLE_LEN, MAX_SAMPLES, RULES, Controls, SamplingError, controls_problem, sample_ids
from .vocab import EOS, PAD, UNK, Vocab

EVAL_CHUNK = 256  # validation sequences scored at once (a language model's head is as wide as its vocabulary)


def require_sampling(cfg) -> None:
    """Refuse ``task.num_samples`` / ``task.sample_len`` above what one sampling batch may hold, and a
    ``task.temperature`` / ``task.top_k`` / ``task.top_p`` that cannot work (alone or together)."""
    for key, most in (("num_samples", MAX_SAMPLES), ("sample_len", MAX_SAMPLE_LEN)):
        require(getattr(cfg, key) <= most, key, getattr(cfg, key), f"must be at most {most:,} (samples are drawn "
                "as one batch at every evaluation)")
    ok, requirement = RULES["temperature"]
    require(ok(cfg.temperature), "temperature", cfg.temperature, f"must be {requirement}")
    for key in ("top_k", "top_p"):
        ok, requirement = RULES[key]
        value = getattr(cfg, key, None)
        require(value is None or ok(value), key, value, f"must be null (no limit) or {requirement}")
        require(value is None or cfg.temperature != 0, key, value, "must be null when task.temperature is 0: "
                "greedy decoding takes the most likely token")


class LanguageModelTask(Task):
    """Subclasses set ``self.cfg`` (``embed_dim``, ``temperature``, ``top_k``, ``top_p``, ``sample_len``,
    ``num_samples``, ``data_seed``), implement ``tokenize`` / ``detokenize`` and call ``_load(train, val, vocab)``."""

    unit = "symbols"  # what the vocabulary holds ("words": tokens are written with spaces between)

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

    def sample(self, model, params, xp, n: int, rng, temperature: float | None = None, *, top_k: int | None = None,
               top_p: float | None = None, prime: str = "") -> list[str]:
        """``n`` new sequences (each sample fed back in; stops at ``<eos>`` or after ``task.sample_len``
        drawn tokens), each starting with ``prime`` when one is given; controls left out (None) are the
        task's (``controls``)."""
        controls, ids = self.controls(temperature, top_k, top_p), self.prime_ids(prime)
        drawn = sample_ids(model, params, self.vocab, [self.vocab.stoi[EOS]] * n, self.cfg.sample_len, controls,
                           rng, xp, prime_ids=ids)
        return [self.continued(prime if ids else "", self.vocab.decode(s[len(ids):])) for s in drawn]

    def controls(self, temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                 names: dict | None = None) -> Controls:
        """The controls of a sampling request: those it gives, the others from ``task.temperature``,
        ``task.top_k`` and ``task.top_p``. Greedy decoding (temperature 0) drops the task's top-k and
        top-p; a top-k or top-p for a task that samples greedily is refused (it would not apply).
        ``names`` spells each argument as the caller's user typed it (``controls_problem``)."""
        name = {"temperature": "temperature", "top_k": "top_k", "top_p": "top_p", **(names or {})}
        if problem := controls_problem(temperature, top_k, top_p, names=name):
            raise SamplingError(problem)
        own = {"top_k": getattr(self.cfg, "top_k", None), "top_p": getattr(self.cfg, "top_p", None)}
        if temperature == 0:
            return Controls(0)
        if temperature is None and self.cfg.temperature == 0 and (top_k is not None or top_p is not None):
            given = name["top_k" if top_k is not None else "top_p"]
            raise SamplingError(f"the run samples greedily (task.temperature 0), so {given} does not apply; give a "
                                f"temperature as well, e.g. {name['temperature']} 1")
        return Controls(self.cfg.temperature if temperature is None else temperature,
                        own["top_k"] if top_k is None else top_k, own["top_p"] if top_p is None else top_p)

    def prime_tokens(self, prime: str) -> list[str]:
        """The tokens of a prefix to continue."""
        return self.tokenize(prime)

    def prime_ids(self, prime: str, name: str = "prime") -> list[int]:
        """The token ids of the prefix ``prime`` ([] for none); a token the vocabulary lacks is refused,
        naming it (``name``: the argument as the caller's user typed it)."""
        if not isinstance(prime, str):
            raise SamplingError(f"{name} must be a string (the text to continue), got {prime!r}")
        tokens = self.prime_tokens(prime) if prime else []
        special = [t for t in tokens if t in (PAD, UNK, EOS, *getattr(self, "class_tokens", ()))]
        if special:  # never drawn, so never written either: a prefix holding one would print it
            raise SamplingError(f"{name} {prime!r}: {special[0]} is a special token, not text; a prefix is text "
                                "to continue")
        unknown = list(dict.fromkeys(t for t in tokens if t not in self.vocab.stoi))
        if unknown:
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            listed = ", ".join(map(repr, unknown[:10])) + more
            raise SamplingError(f"{name} {prime!r}: {listed} {'is' if len(unknown) == 1 else 'are'} not in the "
                                f"model's vocabulary ({len(self.vocab)} {self.unit})")
        if len(tokens) > MAX_SAMPLE_LEN:
            raise SamplingError(f"{name} must be at most {MAX_SAMPLE_LEN:,} tokens, got {len(tokens):,}")
        return self.vocab.encode(tokens)

    def continued(self, prime: str, tokens: list[str]) -> str:
        """A sample's text: the prefix as given, then the drawn tokens (after a space, for words)."""
        space = " " if self.unit == "words" and prime and tokens and not prime[-1].isspace() else ""
        return prime + space + self.detokenize(tokens)

    def token_logps(self, model, params, xp, encoded: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        """log P(y<t> | y<1> … y<t-1>) of every token of each encoded ``(inputs, targets)`` sentence, its
        ``<eos>`` included, in float64 nats; the sentences are run ``EVAL_CHUNK`` at a time, padded."""
        out = []
        for start in range(0, len(encoded), EVAL_CHUNK):
            b = pad_batch([x for x, _ in encoded[start : start + EVAL_CHUNK]],
                          [y for _, y in encoded[start : start + EVAL_CHUNK]])
            logits, _ = model.logits(params, xp.asarray(b.inputs), xp.asarray(b.lengths))
            logp = log_softmax_rows(to_host(logits))  # (T, B, V)
            picked = np.take_along_axis(logp, b.targets[:, :, None], axis=2)[:, :, 0]
            out += [picked[:n, j] for j, n in enumerate(b.lengths)]
        return out

    def score(self, model, params, xp, text: str) -> tuple[float, list[tuple[str, float]]]:
        """log P(text) in nats and each token's log-probability (``<unk>`` for unknown words, then ``<eos>``)."""
        tokens = self.tokenize(text)
        if not tokens:
            raise DataError("nothing to score: the sentence has no tokens")
        x, y = self._encode(tokens)
        (logp,) = self.token_logps(model, params, xp, [(x, y)])
        per = [(self.vocab.itos[t], float(v)) for t, v in zip(y, logp)]
        return sum(v for _, v in per), per

    def predict_texts(self, model, params, xp, texts, rng) -> list[str]:
        """One new sample per input row (the row's text is not used)."""
        return self.sample(model, params, xp, len(texts), rng)

    def sample_text(self, names: list[str], known: set) -> str:
        return "\n".join(f"{n}{'' if n in known else '  (new)'}" for n in names) + "\n"
