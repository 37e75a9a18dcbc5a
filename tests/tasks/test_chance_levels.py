"""The chance levels the built-in tasks state (``TaskInfo.chance``, shown as their MLflow experiment's
description: seqfw.runner.notes) are true of their default data: each number quoted is measured here."""
from __future__ import annotations

import collections
import math

import numpy as np

from seqfw.plugins.registry import make_task


def quoted(task) -> str:
    return task.info.chance


def test_ner_majority_tag_and_ambiguous_tokens():
    task = make_task("ner")
    tags = collections.Counter(t for s in task.val for t in s.tags)
    assert f"{tags['O'] / sum(tags.values()):.2f}" == "0.69" and "val/token_accuracy ≈ 0.69" in quoted(task)
    amb = collections.Counter(s.tags[i] for s in task.val for i in s.ambiguous)  # two readings, about as many each
    assert set(amb) == {"O", "B-PER"} and abs(amb["O"] / sum(amb.values()) - 0.5) < 0.05
    assert "val/ambiguous_accuracy ≈ 0.5" in quoted(task)


def test_language_models_uniform_over_their_vocabulary():
    for name, size, quote in (("char_lm", 55, "V = 55, 5.78 bpc"), ("name_gen", 57, "V = 57: 5.83 bpc"),
                              ("word_lm", 1787, "V = 1787, loss 7.49")):
        task = make_task(name)
        assert len(task.vocab) == size and quote in quoted(task), name
    assert f"{math.log2(55):.2f}" == "5.78" and f"{math.log2(57):.2f}" == "5.83" and f"{math.log(1787):.2f}" == "7.49"


def test_adding_predicting_one_scores_one_sixth():
    task = make_task("adding", num_val=20000)
    mse = float(((1.0 - task.val.targets[:, 0]) ** 2).mean())
    assert abs(mse - 1 / 6) < 0.005 and "1/6 ≈ 0.167" in quoted(task)


def test_classifiers_balanced_classes_and_the_bag_of_words_baseline():
    sentiment = make_task("sentiment")
    share = np.mean([y for _, y in sentiment.val])
    assert abs(share - 0.5) < 0.03 and f"{sentiment.bow_accuracy:.2f}" == "0.58"
    assert "val/bow_baseline_accuracy ≈ 0.58" in quoted(sentiment)
    agreement = make_task("agreement")
    assert abs(np.mean([y for _, y in agreement.val]) - 0.5) < 0.05 and "val/accuracy = 0.5" in quoted(agreement)
    assert f"{math.log(2):.3f}" == "0.693"


def test_dates_span_the_days_quoted():
    import datetime as dt

    days = dt.date(2099, 12, 31).toordinal() - dt.date(1900, 1, 1).toordinal() + 1
    assert f"{days:,}" in quoted(make_task("dates", num_train=10, num_val=10))


def test_dna_majority_label_and_the_two_bayes_bounds():
    task = make_task("dna")
    outside = 1 - task.val_labels.mean()  # label 0: outside the region
    assert outside > 0.5 and f"{outside:.2f}" == "0.60" and "always the majority label (outside)" in quoted(task)
    assert "val/accuracy ≈ 0.60" in quoted(task)
    assert f"{task.bayes_accuracy:.2f}" == "0.89" and "val/bayes_accuracy ≈ 0.89" in quoted(task)
    assert f"{task.causal_bayes_accuracy:.2f}" == "0.83" and "≈ 0.83 reading left to right" in quoted(task)


def test_minimal_pairs_a_model_preferring_one_form_is_right_half_the_time():
    task = make_task("minimal_pairs")
    assert "judge/agreement = judge/homophones = 0.5" in quoted(task)
    singular = [p.good[2 + p.distance] in ("is", "was", "has") for p in task.pairs if p.kind == "agreement"]
    assert abs(np.mean(singular) - 0.5) < 0.05  # "always is/was/has" scores this
    for words in ({"pear", "pair"}, {"sea", "see"}, {"sun", "son"}):  # "always the first of the two" scores this
        first = sorted(words)[0]
        chosen = [p.good[i] == first for p in task.pairs if p.kind == "homophone"
                  for i, (g, b) in enumerate(zip(p.good, p.bad)) if g != b and g in words]
        assert len(chosen) > 30 and abs(np.mean(chosen) - 0.5) < 0.2
