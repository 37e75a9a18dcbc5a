"""A generated named-entity corpus in the spirit of the course's running example.

Sentences carry persons (PER), locations (LOC) and organisations (ORG), many of
them multi-token ("Hermione Granger", "Rio de Janeiro", "Bank of England"),
tagged BIO. A share of the sentences holds an *ambiguous* token: a word that is
a first name or the start of a common noun phrase, preceded by the same kind of
context either way, so that only the next word decides its label::

    He said , Teddy bears are on sale !            Teddy -> O
    He said , Teddy Roosevelt was a great President !  Teddy -> B-PER

A left-to-right network cannot do better than chance on those; a
bidirectional one can. The name lists are embedded here (no download).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")

FIRST = ("Harry Hermione Maria John Aisha Wei Olga Pedro Fatima Kenji Amara Lars Priya Omar Sofia Ivan Chloe "
         "Mateo Leila Tom Anna David Elena Samuel Nadia Yusuf Ingrid Carlos Mei Tariq").split()
LAST = ("Potter Granger Smith Garcia Chen Okafor Ivanova Tanaka Rossi Schmidt Kowalski Nguyen Hassan Johansson "
        "Silva Kim Murphy Dubois Roosevelt Lincoln Mandela Curie Turing Lovelace Darwin Newton Patel Costa Novak "
        "Adeyemi").split()
LOCATIONS = [s.split() for s in (
    "Paris|London|Tokyo|Nairobi|Lima|Oslo|Cairo|Sydney|Toronto|Berlin|Madrid|Mumbai|Boston|Dublin|Vienna|Lagos|"
    "Seoul|Chicago|Rome|Athens|New York|San Francisco|Buenos Aires|Hong Kong|Los Angeles|Cape Town|New Delhi|"
    "Rio de Janeiro|Salt Lake City|Kuala Lumpur").split("|")]
ORGS = [s.split() for s in (
    "Google|Microsoft|UNICEF|Siemens|Toyota|NASA|Oxfam|Nokia|Reuters|Airbus|United Nations|"
    "World Health Organization|Bank of England|Red Cross|European Central Bank|General Electric|Deutsche Bank|"
    "Amnesty International|Royal Society|Acme Corporation").split("|")]

# ambiguous first names, each with the nouns that can follow it as a common noun phrase
AMBIGUOUS = {"Teddy": ["bears"], "Rose": ["petals", "gardens"], "Bill": ["payments"], "Jack": ["rabbits"],
             "Amber": ["necklaces"], "Ruby": ["rings"], "Holly": ["bushes", "berries"], "Daisy": ["chains"],
             "Penny": ["stocks"], "Iris": ["scans"], "Jasmine": ["flowers"], "Summer": ["holidays"],
             "Robin": ["eggs"], "Sandy": ["beaches"], "Grace": ["notes"]}
LEADS = ["He said", "She wrote", "They announced", "We heard", "Everyone knows", "The paper reported",
         "I think", "Apparently"]
NOUN_ENDINGS = ["are on sale !", "are popular this year .", "were everywhere in {LOC} .", "are cheaper than ever .",
                "sold out quickly ."]
PERSON_ENDINGS = ["was a great President !", "is visiting {LOC} .", "works for {ORG} .", "was born in {LOC} .",
                  "will speak tomorrow ."]
TEMPLATES = [
    "{PER} visited {LOC} last {WHEN} .",
    "{PER} works for {ORG} in {LOC} .",
    "{ORG} opened a new office in {LOC} .",
    "{PER} and {PER} invented a new {THING} .",
    "Yesterday {PER} met the director of {ORG} .",
    "The mayor of {LOC} thanked {ORG} for the donation .",
    "{PER} moved from {LOC} to {LOC} in {YEAR} .",
    "According to {ORG} , prices in {LOC} are rising .",
    "{PER} said that {ORG} will hire {NUM} people .",
    "It rained in {LOC} all day .",
    "{ORG} and {ORG} signed an agreement in {LOC} .",
    "A spokesperson for {ORG} denied that {PER} had resigned .",
]
FILLERS = {"WHEN": ["week", "month", "year", "summer"], "THING": ["spell", "machine", "method", "vaccine"],
           "YEAR": ["1999", "2004", "2012", "2021"], "NUM": ["twenty", "forty", "hundreds of", "many"]}


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]
    ambiguous: list[int]  # positions of ambiguous tokens


def _entity(kind: str, words: list[str]) -> tuple[list[str], list[str]]:
    return words, [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)


def _fill(template: str, rng: np.random.Generator, tokens: list, tags: list) -> None:
    for piece in template.split():
        if piece in ("{PER}", "{LOC}", "{ORG}"):
            if piece == "{PER}":
                first = str(rng.choice(FIRST))
                words = [first, str(rng.choice(LAST))] if rng.random() < 0.7 else [first]
                w, t = _entity("PER", words)
            elif piece == "{LOC}":
                w, t = _entity("LOC", LOCATIONS[rng.integers(len(LOCATIONS))])
            else:
                w, t = _entity("ORG", ORGS[rng.integers(len(ORGS))])
        elif piece.startswith("{") and piece.strip("{}") in FILLERS:
            w = str(rng.choice(FILLERS[piece.strip("{}")])).split()
            t = ["O"] * len(w)
        else:
            w, t = [piece], ["O"]
        tokens += w
        tags += t


def make_sentence(rng: np.random.Generator, ambiguous_fraction: float) -> Sentence:
    tokens: list[str] = []
    tags: list[str] = []
    if rng.random() >= ambiguous_fraction:
        _fill(str(rng.choice(TEMPLATES)), rng, tokens, tags)
        return Sentence(tokens, tags, [])
    _fill(str(rng.choice(LEADS)) + " ,", rng, tokens, tags)
    word = str(rng.choice(list(AMBIGUOUS)))
    pos = len(tokens)
    if rng.random() < 0.5:  # a person: the surname follows
        tokens += [word, str(rng.choice(LAST))]
        tags += ["B-PER", "I-PER"]
        _fill(str(rng.choice(PERSON_ENDINGS)), rng, tokens, tags)
    else:  # a common noun phrase
        tokens += [word, str(rng.choice(AMBIGUOUS[word]))]
        tags += ["O", "O"]
        _fill(str(rng.choice(NOUN_ENDINGS)), rng, tokens, tags)
    return Sentence(tokens, tags, [pos])


def generate(n: int, seed: int, ambiguous_fraction: float) -> list[Sentence]:
    rng = np.random.default_rng(seed)
    return [make_sentence(rng, ambiguous_fraction) for _ in range(n)]


def entity_spans(tags: list[str]) -> set[tuple[str, int, int]]:
    """BIO tags -> {(type, start, end)}; an I- tag without a matching B- opens a span (as conlleval)."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        inside = tag.startswith("I-") and kind == tag[2:]
        if start is not None and not inside:
            spans.add((kind, start, i))
            start, kind = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and not inside):
            start, kind = i, tag[2:]
    return spans
