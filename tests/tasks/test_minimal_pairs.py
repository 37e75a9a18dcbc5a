"""Language models as judges (lecture 1.6): the generated pairs are what they claim, the judgement is
P(correct) > P(wrong) with P the same as ``--score``'s, and a briefly trained model judges near pairs."""
import numpy as np
import pytest

import seqfw
from seqfw.plugins.registry import make_task, recurrent
from seqfw.tasks.minimal_pairs import bin_name, length_bins
from seqfw.tasks.pairs_corpus import ATTRACTORS, SUBJECTS, VERBS

SMALL = {"num_train": 2000, "num_val": 100, "pairs_per_length": 60, "homophone_pairs": 80}
SINGULAR = {s for s, _ in ATTRACTORS}
PLURAL = {p for _, p in ATTRACTORS}


@pytest.fixture(scope="module")
def task():
    return make_task("minimal_pairs", **SMALL)


def differing(pair) -> list[int]:
    return [i for i, (g, b) in enumerate(zip(pair.good, pair.bad)) if g != b]


def test_agreement_pairs_differ_only_in_a_verb_that_agrees_with_the_subject(task):
    pairs = [p for p in task.pairs if p.kind == "agreement"]
    assert len(pairs) == SMALL["pairs_per_length"] * (task.cfg.max_phrases + 1)
    for p in pairs:
        (at,) = differing(p)
        assert len(p.good) == len(p.bad) and at == 2 + p.distance  # "the", subject, distractor, verb
        subject_plural = p.good[1] in {pl for _, pl in SUBJECTS}
        verb = next(v for v in VERBS if p.good[at] in v)
        assert p.good[at] == verb[subject_plural] and p.bad[at] == verb[1 - subject_plural]


def test_the_nearest_noun_is_no_cue_to_the_verb(task):
    """The attractors: in long distractors the noun next to the verb has the subject's number only about half
    the time, so a model that agrees with the nearest noun is at chance (a bag of words cannot judge)."""
    same = []
    for p in task.pairs:
        if p.kind == "agreement" and p.distance >= 6:
            nearest = next(w for w in reversed(p.good[2 : 2 + p.distance]) if w in SINGULAR | PLURAL)
            same.append((nearest in PLURAL) == (p.good[1] in {pl for _, pl in SUBJECTS}))
    assert len(same) > 200 and 0.4 < np.mean(same) < 0.6


def test_homophone_pairs_swap_one_word_for_its_sound_alike(task):
    pairs = [p for p in task.pairs if p.kind == "homophone"]
    assert len(pairs) == SMALL["homophone_pairs"]
    twins = {("pear", "pair"), ("sea", "see"), ("flour", "flower"), ("night", "knight"), ("right", "write"),
             ("sun", "son")}
    for p in pairs:
        (at,) = differing(p)
        assert tuple(sorted((p.good[at], p.bad[at]))) in {tuple(sorted(t)) for t in twins}
    assert {" ".join(p.bad) for p in pairs}.isdisjoint(task.known)  # the wrong sentence is never trained on


def test_distractor_length_bins_cover_every_pair_and_merge_a_sparse_tail():
    assert length_bins([0, 3, 7, 12], 5, 1) == [(0, 0), (1, 5), (6, 10), (11, 15)]
    assert length_bins([0] * 5 + [3] * 5 + [7] * 5 + [26], 5, 3) == [(0, 0), (1, 5), (6, -1)]
    assert length_bins([0, 0], 5, 1) == [(0, 0)]
    assert length_bins([3, 4, 5, 7, 8, 9, 12], 2, 1) == [(1, 4), (5, 6), (7, 8), (9, 10), (11, 12)]  # 1-2 empty
    assert length_bins([3] * 5 + [8], 2, 3) == [(1, -1)]  # no bin 0 without pairs at 0; a sparse rest joins
    assert [bin_name(*b) for b in [(0, 0), (1, 5), (6, 10), (21, -1)]] == ["0", "01-05", "06-10", "21_or_more"]
    assert sorted(["06-10", "11-15", "01-05"]) == ["01-05", "06-10", "11-15"]  # as MLflow and summaries sort


def test_every_reported_bin_holds_pairs_and_the_metric_names_are_declared(task):
    names = task.reported_metrics()
    assert names[0] == "judge/agreement" and "judge/homophones" in names
    bins = [n.removeprefix("judge/agreement_") for n in names if n.startswith("judge/agreement_")]
    assert bins[0] == "0" and len(bins) >= 4
    counts = {b: sum(task.bin_of(p) == b for p in task.pairs if p.kind == "agreement") for b in bins}
    assert min(counts.values()) >= SMALL["pairs_per_length"] // 5


@pytest.mark.parametrize("settings", [{"max_phrases": 0}, {"bin_words": 1}, {"bin_words": 2},
                                      {"pairs_per_length": 1, "max_phrases": 3}, {"max_phrases": 20, "pairs_per_length": 3}])
def test_every_setting_gives_bins_that_hold_pairs_and_evaluates(settings):
    task = make_task("minimal_pairs", **{**SMALL, "num_train": 200, "homophone_pairs": 5, **settings})
    counts = [sum(task.bin_of(p) == b for p in task.pairs) for b in task.bins()]
    assert min(counts) >= 1 and sum(counts) == sum(p.kind == "agreement" for p in task.pairs)
    model = task.build_model(recurrent("rnn", task.input_size, 4), "many_to_many")
    params = model.init_params(np.random.default_rng(0), np, np.float64)
    metrics = task.evaluate(model, params, np)
    assert set(metrics) == set(task.reported_metrics()) and all(np.isfinite(v) for v in metrics.values())
    task.samples(model, params, np)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A GRU trained for 300 steps on distractors of 0-1 phrases: enough to judge near pairs, not far ones."""
    cwd = tmp_path_factory.mktemp("judge")
    overrides = ["task=minimal_pairs", "cell=gru", "tracking=none", "train.steps=300", "train.eval_every=300",
                 "cell.hidden_size=16", "optim.lr=0.02", "train.progress=false", "train.grad_curves=0",
                 "task.num_train=2000", "task.num_val=100", "task.max_phrases=1", "task.pairs_per_length=50",
                 "task.homophone_pairs=50", f"hydra.run.dir={cwd}/run"]
    return seqfw.run(overrides)


def test_a_pair_is_judged_by_the_same_probability_that_score_reports(trained):
    task = trained.task
    good, bad = task.pair_logps(trained.model, trained.params, trained.backend.xp)
    for i in (0, 1, len(task.pairs) - 1):
        pair = task.pairs[i]
        assert trained.score(" ".join(pair.good)).logp == pytest.approx(good[i], abs=1e-4)
        assert trained.score(" ".join(pair.bad)).logp == pytest.approx(bad[i], abs=1e-4)
    metrics = task.judge_metrics(good, bad)
    agree = np.array([p.kind == "agreement" for p in task.pairs])
    assert metrics["judge/agreement"] == pytest.approx(np.mean((good > bad)[agree]))
    assert metrics == {k: v for k, v in trained.metrics.items() if k.startswith("judge/")}


def test_training_teaches_the_near_judgements_an_untrained_model_cannot_make(trained):
    task = trained.task
    untrained = trained.model.init_params(np.random.default_rng(1), np, np.float32)
    before = task.judge_metrics(*task.pair_logps(trained.model, untrained, np))
    after = trained.metrics
    assert 0.3 < before["judge/agreement_0"] < 0.7  # one verb form preferred everywhere: half the pairs
    assert after["judge/agreement_0"] >= 0.95 and after["judge/homophones"] >= 0.95
    assert after["judge/agreement_0"] > after["judge/agreement_01-05"]  # the distractor costs it already


def test_samples_show_each_bin_with_both_probabilities(trained):
    text = trained.task.samples(trained.model, trained.params, np)
    assert text.startswith("log P(correct)  log P(wrong)  judged")
    assert "(0 distractor words)" in text and "(homophone)" in text and "sampled sentences:" in text
    assert "[is/are]" in text or "[are/is]" in text or "[was/were]" in text or "[were/was]" in text \
        or "[has/have]" in text or "[have/has]" in text


@pytest.mark.parametrize("key, value, message", [
    ("max_phrases", 21, "max_phrases must be between 0 and 20, got 21"),
    ("homophone_share", 1.0, "homophone_share must be strictly between 0 and 1, got 1.0"),
    ("bin_words", 0, "bin_words must be >= 1, got 0"),
    ("pairs_per_length", 0, "pairs_per_length must be >= 1, got 0"),
])
def test_bad_settings_are_refused_naming_the_key(key, value, message):
    with pytest.raises(ValueError) as err:
        make_task("minimal_pairs", **{**SMALL, key: value})
    assert message in str(err.value)
