"""Vocabularies: token <-> id, the K most frequent tokens plus the course's special tokens."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"


class Vocab:
    """Ids 0, 1, 2 are ``<pad>``, ``<unk>``, ``<eos>``; then tokens by descending frequency (ties by first sight).

    ``max_size`` keeps the K most frequent tokens (the rest map to ``<unk>``).
    """

    def __init__(self, tokens: Sequence[str]):
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("Vocab: tokens must be unique")

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], max_size: int | None = None, specials=(PAD, UNK, EOS)):
        counts = Counter(tok for s in sentences for tok in s)
        ranked = [t for t, _ in counts.most_common() if t not in specials]
        return cls(list(specials) + ranked[: None if max_size is None else max_size])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        unk = self.stoi.get(UNK)
        if unk is None:
            return [self.stoi[t] for t in tokens]
        return [self.stoi.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]
