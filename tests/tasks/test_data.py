"""The generated data of each task says what its docstring says."""
import numpy as np
import pytest

from seqfw import make_task
from seqfw.tasks.adding import BASELINE_MSE, make_batch
from seqfw.tasks.agreement import SUBJECTS, make_sentence
from seqfw.tasks.sentiment import NEGATIVE, POSITIVE, bow_baseline
from seqfw.tasks.sentiment import make_sentence as make_review


def test_adding_marks_one_value_per_half_and_sums_them():
    b = make_batch(np.random.default_rng(0), 500, 20)
    assert b.inputs.shape == (20, 500, 2) and b.targets.shape == (500, 1)
    marks = b.inputs[:, :, 1]
    assert np.all(marks.sum(axis=0) == 2) and np.all(marks[:10].sum(axis=0) == 1)
    np.testing.assert_allclose(b.targets[:, 0], (b.inputs[:, :, 0] * marks).sum(axis=0))
    # predicting 1 scores Var(u1 + u2) = 1/6
    assert abs(((1 - b.targets) ** 2).mean() - BASELINE_MSE) < 0.02


def test_agreement_label_is_the_subjects_number_and_the_other_number_is_an_attractor():
    rng = np.random.default_rng(0)
    singular = {s for s, _ in SUBJECTS}
    plural = {p for _, p in SUBJECTS}
    for _ in range(200):
        tokens, label = make_sentence(rng, 6, 9)
        subject = tokens[1]
        assert label == (subject in plural) and (subject in singular) != (subject in plural)
        lemma = next(pair for pair in SUBJECTS if subject in pair)
        assert lemma[1 - label] in tokens[4:]  # the attractor
        assert len(tokens) - 5 >= 6 and tokens[-1] == ","


def test_agreement_defeats_a_bag_of_words():
    task = make_task("agreement", num_train=2000, num_val=400)
    assert bow_baseline(task._train, task._val, len(task.vocab)) < 0.6


def test_sentiment_negation_and_contrast_decide_the_label():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(400):
        words, label = make_review(rng)
        text = " ".join(words)
        adjs = [w for w in words if w in POSITIVE or w in NEGATIVE]
        if " but " in text:
            seen.add("but")
            tail = text.split(" but ")[1].split()
            expected = (tail[-1] in POSITIVE) != ("not" in tail)
        elif text.startswith("although"):
            seen.add("although")
            expected = adjs[-1] in POSITIVE
        elif text.startswith("i did not think"):
            seen.add("distance")
            expected = adjs[0] in NEGATIVE
        else:
            seen.add("plain")
            expected = (adjs[0] in POSITIVE) != ("not" in words)
        assert label == expected, text
    assert seen == {"but", "although", "distance", "plain"}


def test_sentiment_bag_of_words_baseline_is_reported_and_beatable():
    task = make_task("sentiment", num_train=2000, num_val=400)
    assert 0.5 < task.bow_accuracy < 0.75


def test_char_lm_default_corpus_is_the_census_names():
    task = make_task("char_lm")
    assert len(task.train) + len(task.val) > 5000 and "Mary" in task.train + task.val
    x, y = task._train[0]
    assert x[1:] == y[:-1] and x[0] == y[-1] == task.vocab.stoi["<eos>"]


def test_char_lm_reads_a_text_file_and_refuses_bad_ones(tmp_path):
    f = tmp_path / "corpus.txt"
    f.write_text("one line of text\n\nanother line, longer than ten characters\n", encoding="utf-8")
    task = make_task("char_lm", data={"path": str(f), "max_len": 10}, val_fraction=0.2)
    assert max(len(s) for s in task.train + task.val) <= 10 and len(task.train) + len(task.val) == 6  # 16 + 40 characters
    with pytest.raises(ValueError, match="no such file"):
        make_task("char_lm", data={"path": str(tmp_path / "missing.txt")})
    (tmp_path / "latin1.txt").write_bytes("café\nthé\n".encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        make_task("char_lm", data={"path": str(tmp_path / "latin1.txt")})
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="needs at least 2"):
        make_task("char_lm", data={"path": str(tmp_path / "empty.txt")})


def test_char_lm_python_docs_corpus_and_bad_choice():
    task = make_task("char_lm", data={"builtin": "python_docs", "max_len": 64})
    assert len(task.train) > 10000 and max(len(s) for s in task.train) <= 64
    with pytest.raises(ValueError, match="data.builtin must be one of names, python_docs"):
        make_task("char_lm", data={"builtin": "shakespeare"})


def test_ner_reads_a_tagged_file_and_trains_on_it(tmp_path):
    from seqfw.tasks.ner_corpus import generate
    from seqfw import get_backend, recurrent

    sentences = generate(60, seed=3, ambiguous_fraction=0.25)
    path = tmp_path / "corpus.tags"
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s.tokens, s.tags)) for s in sentences) + "\n")
    task = make_task("ner", path=str(path), val_fraction=0.2, embed_dim=8)
    assert (len(task.train), len(task.val)) == (48, 12)
    assert [s.tokens for s in task.val] == [s.tokens for s in sentences[:12]]  # the file's first sentences
    assert [s.tags for s in task.train] == [s.tags for s in sentences[12:]]
    model = task.build_model(recurrent("gru", 8, 8), "many_to_many")
    metrics = task.evaluate(model, model.init_params(get_backend(seed=0)), np)
    # a user's file marks no ambiguous tokens: that metric is left out rather than reported as 0
    assert set(metrics) == {"val/token_accuracy", "val/entity_f1"}
    assert 0 <= metrics["val/token_accuracy"] <= 1
