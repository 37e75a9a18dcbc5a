"""The generated English of ``task=minimal_pairs``: sentences, and minimal pairs that differ in one word.

Two kinds of sentence, each a list of lower-case words ending in ``.``:

* **Agreement** (Linzen et al. 2016's test): a subject, a distractor of ``d`` words holding
  nouns of either number (attractors), then the verb, which agrees with the subject::

      the keys                                      are on the table .      d = 0
      the keys to the old cabinet                   are on the table .      d = 4
      the keys to the cabinet that the farmer saw   are on the table .      d = 8

  Its pair swaps the verb for the other number (``are`` -> ``is``): only the subject, ``d``
  words back, tells which is right; the nearest noun often says the opposite.

* **Homophones** (lecture 1.6's "the apple and pear salad" / "the apple and pair salad"):
  a word that sounds like another, in a context only one of them fits; its pair swaps the
  word for its twin. Some contexts come before the word ("an apple and a pear"), some only
  after it ("a pair of shoes"): a left-to-right model judges those by what follows.

The vocabulary is closed (123 words, and ``<pad>``, ``<unk>``, ``<eos>``), so a judgement is never
about an unknown word.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUBJECTS = [("key", "keys"), ("dog", "dogs"), ("teacher", "teachers"), ("book", "books"), ("child", "children"),
            ("car", "cars"), ("door", "doors"), ("picture", "pictures"), ("farmer", "farmers"), ("bird", "birds")]
ATTRACTORS = SUBJECTS + [("cabinet", "cabinets"), ("table", "tables"), ("window", "windows"), ("house", "houses"),
                         ("man", "men"), ("garden", "gardens"), ("box", "boxes"), ("friend", "friends")]
PREPOSITIONS = ["to", "near", "behind", "beside", "under", "of", "with"]
ADJECTIVES = ["old", "new", "red", "small", "big", "green"]
PAST_VERBS = ["saw", "liked", "found", "painted", "moved", "bought"]
VERBS = [("is", "are"), ("was", "were"), ("has", "have")]
PREDICATES = {"is": [["on", "the", "table"], ["in", "the", "garden"], ["here"], ["broken"], ["ready"], ["lost"]],
              "has": [["gone"], ["arrived"], ["been", "here"], ["changed"]]}

# (the word, its sound-alike, templates where the word fits); ``{a}`` stands for 0-2 adjectives
HOMOPHONES = [
    ("pear", "pair", ["she ate an apple and a {a} pear .", "the apple and pear salad is ready .",
                      "we bought a {a} pear at the market ."]),
    ("pair", "pear", ["he bought a {a} pair of shoes .", "a pair of socks is on the table ."]),
    ("sea", "see", ["the ship sailed on the {a} sea .", "the sea is calm today ."]),
    ("see", "sea", ["i can see the {a} ship .", "we will see the teacher today ."]),
    ("flour", "flower", ["she baked the bread with {a} flour .", "the flour is in the box ."]),
    ("flower", "flour", ["a {a} flower grew in the garden .", "the flower is in the garden ."]),
    ("night", "knight", ["the stars shine at night .", "we met the friend last night ."]),
    ("knight", "night", ["the {a} knight rode a horse .", "the knight has a sword ."]),
    ("right", "write", ["turn right at the {a} door .", "the house is on the right ."]),
    ("write", "right", ["please write a letter to the teacher .", "i will write a {a} book ."]),
    ("sun", "son", ["the {a} sun is bright today .", "the sun shone on the garden ."]),
    ("son", "sun", ["her {a} son is a teacher .", "the farmer and his son are here ."]),
]


@dataclass(frozen=True)
class Pair:
    """A sentence and its twin that differs in one word; ``kind`` is ``agreement`` or ``homophone``,
    ``distance`` the distractor's words (agreement) or adjectives between cue and word (homophone)."""

    good: list[str]
    bad: list[str]
    kind: str
    distance: int


def noun_phrase(rng: np.random.Generator) -> tuple[list[str], int]:
    """``the [adjective] noun`` in a random number, and that number (0 singular, 1 plural)."""
    number = int(rng.integers(2))
    adjective = [ADJECTIVES[rng.integers(len(ADJECTIVES))]] if rng.random() < 0.3 else []
    return ["the", *adjective, ATTRACTORS[rng.integers(len(ATTRACTORS))][number]], number


def distractor_phrase(rng: np.random.Generator) -> list[str]:
    """A prepositional phrase ("to the old cabinets") or an object relative clause ("that the men saw")."""
    noun, _ = noun_phrase(rng)
    if rng.random() < 0.6:
        return [PREPOSITIONS[rng.integers(len(PREPOSITIONS))], *noun]
    return ["that", *noun, PAST_VERBS[rng.integers(len(PAST_VERBS))]]


def agreement_sentence(rng: np.random.Generator, max_phrases: int,
                       phrases: int | None = None) -> tuple[list[str], int, int, int]:
    """(words, index of the verb, the subject's number, distractor words): a distractor of ``phrases``
    phrases, or of 0..``max_phrases`` drawn uniformly."""
    number = int(rng.integers(2))
    subject = SUBJECTS[rng.integers(len(SUBJECTS))][number]
    count = int(rng.integers(max_phrases + 1)) if phrases is None else phrases
    distractor = [w for _ in range(count) for w in distractor_phrase(rng)]
    verb = VERBS[rng.integers(len(VERBS))]
    predicate = PREDICATES["has" if verb[0] == "has" else "is"]
    words = ["the", subject, *distractor, verb[number], *predicate[rng.integers(len(predicate))], "."]
    return words, 2 + len(distractor), number, len(distractor)


def homophone_sentence(rng: np.random.Generator) -> tuple[list[str], int, str, int]:
    """(words, index of the homophone, its twin, adjectives inserted)."""
    word, twin, templates = HOMOPHONES[rng.integers(len(HOMOPHONES))]
    n_adj = int(rng.integers(3))
    adjectives = " ".join(ADJECTIVES[i] for i in rng.choice(len(ADJECTIVES), n_adj, replace=False))
    template = templates[rng.integers(len(templates))]
    words = template.replace("{a}", adjectives).split()
    return words, words.index(word), twin, n_adj if "{a}" in template else 0


def corpus(rng: np.random.Generator, count: int, max_phrases: int, homophone_share: float) -> list[list[str]]:
    """``count`` sentences, a ``homophone_share`` of them homophone sentences."""
    return [homophone_sentence(rng)[0] if rng.random() < homophone_share else agreement_sentence(rng, max_phrases)[0]
            for _ in range(count)]


def agreement_pairs(rng: np.random.Generator, per_count: int, max_phrases: int) -> list[Pair]:
    """``per_count`` pairs for each number of distractor phrases, 0 to ``max_phrases``."""
    pairs = []
    for phrases in [k for k in range(max_phrases + 1) for _ in range(per_count)]:
        words, at, number, distance = agreement_sentence(rng, max_phrases, phrases)
        verb = next(v for v in VERBS if words[at] in v)
        bad = words[:at] + [verb[1 - number]] + words[at + 1:]
        pairs.append(Pair(words, bad, "agreement", distance))
    return pairs


def homophone_pairs(rng: np.random.Generator, count: int) -> list[Pair]:
    pairs = []
    for _ in range(count):
        words, at, twin, distance = homophone_sentence(rng)
        pairs.append(Pair(words, words[:at] + [twin] + words[at + 1:], "homophone", distance))
    return pairs


def longest_distractor(max_phrases: int) -> int:
    """The most words a distractor of ``max_phrases`` phrases can have (a relative clause with an adjective: 5)."""
    return 5 * max_phrases
