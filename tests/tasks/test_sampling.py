"""Course 1.7's sampling rules: fed back, never <unk>, stops at <eos> or the limit, seeded; top-k, top-p, a prefix."""
import numpy as np
import pytest

from seqfw import recurrent
from seqfw.tasks.sampling import Controls, next_tokens, sample_ids
from seqfw.tasks.vocab import EOS, PAD, UNK, Vocab
from seqfw.engine.models import sequence_model

VOCAB = Vocab.build([list("abc")])  # <pad> <unk> <eos> a b c


def model_favouring(token: str, strength: float = 20.0):
    model = sequence_model("many_to_many", recurrent("gru", 4, 8), len(VOCAB), "softmax", len(VOCAB), 4)
    params = model.init_params(np.random.default_rng(0), np, np.float64)
    params["head"]["b"][VOCAB.stoi[token]] = strength
    return model, params


def draw(model, params, n=50, max_len=12, temperature=1.0, seed=0):
    return sample_ids(model, params, VOCAB, [VOCAB.stoi[EOS]] * n, max_len, temperature,
                      np.random.default_rng(seed), np)


def test_unk_is_never_emitted_even_when_the_model_wants_it():
    out = draw(*model_favouring(UNK))
    assert all(VOCAB.stoi[UNK] not in s and 0 not in s for s in out)
    assert sum(map(len, out)) > 0  # it did sample something else instead


def test_sampling_stops_at_eos():
    assert draw(*model_favouring(EOS)) == [[]] * 50


def test_the_length_limit_is_respected():
    out = draw(*model_favouring("b"), max_len=7)
    assert all(len(s) == 7 for s in out) and all(set(s) <= {VOCAB.stoi["b"]} for s in out[:5])


def test_same_seed_same_samples_and_temperature_matters():
    model, params = model_favouring("a", strength=0.5)
    assert draw(model, params, seed=3) == draw(model, params, seed=3)
    assert draw(model, params, seed=3) != draw(model, params, seed=4)
    cold = draw(model, params, temperature=0.05)
    hot = draw(model, params, temperature=5.0)
    share_a = lambda out: np.mean([t == VOCAB.stoi["a"] for s in out for t in s])  # noqa: E731
    assert share_a(cold) > 0.95 > share_a(hot)


@pytest.mark.parametrize("kwargs, match", [({"temperature": -1}, "temperature must be a finite number >= 0"),
                                            ({"max_len": 0}, "max_len must be >= 1")])
def test_bad_sampling_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        draw(*model_favouring("a"), **kwargs)


@pytest.mark.parametrize("controls", [Controls(top_k=1), Controls(top_k=2), Controls(top_p=0.1), Controls(top_p=0.9),
                                      Controls(3.0, top_k=2, top_p=0.5), Controls(0)])
@pytest.mark.parametrize("favoured", [UNK, PAD])
def test_unk_and_pad_stay_banned_under_every_control_and_after_a_prefix(controls, favoured):
    model, params = model_favouring(favoured)
    a = VOCAB.stoi["a"]
    out = sample_ids(model, params, VOCAB, [VOCAB.stoi[EOS]] * 50, 12, controls, np.random.default_rng(0), np,
                     prime_ids=[a, a])
    assert all(s[:2] == [a, a] for s in out)  # the prefix starts every sample
    assert not any(t in (VOCAB.stoi[UNK], VOCAB.stoi[PAD]) for s in out for t in s)
    assert sum(map(len, out)) > 100  # it drew something else instead


def test_top_k_and_top_p_keep_exactly_their_tokens_with_the_renormalised_odds():
    logits = np.log(np.tile([[0.5, 0.3, 0.15, 0.05]], (4000, 1)))

    def shares(banned=(), **controls):
        drawn = next_tokens(logits, list(banned), Controls(**controls), np.random.default_rng(0))
        return np.bincount(drawn, minlength=4) / len(drawn)

    assert shares(top_k=2) == pytest.approx([0.5 / 0.8, 0.3 / 0.8, 0, 0], abs=0.03)
    assert shares(banned=[0], top_k=2) == pytest.approx([0, 0.3 / 0.45, 0.15 / 0.45, 0], abs=0.03)
    assert shares(top_p=0.4) == pytest.approx([1, 0, 0, 0])  # the most likely token alone already holds 0.4
    assert shares(top_p=0.75) == pytest.approx([0.5 / 0.8, 0.3 / 0.8, 0, 0], abs=0.03)
    assert shares(top_p=0.85) == pytest.approx([0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], abs=0.03)
    assert shares(top_k=3, top_p=0.6) == pytest.approx([0.5 / 0.8, 0.3 / 0.8, 0, 0], abs=0.03)  # p of the kept 3
    hot = shares(temperature=1e6, top_k=3)  # top-k after temperature: uniform over the three kept
    assert hot == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0], abs=0.03)
    assert (shares(top_p=1.0) == shares()).all()


@pytest.mark.parametrize("controls, match", [
    ({"top_k": 0}, "top_k must be a whole number >= 1"), ({"top_k": 1.0}, "top_k must be a whole number >= 1"),
    ({"top_k": True}, "top_k must be a whole number >= 1"), ({"top_p": 0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": float("nan")}, r"top_p must be in \(0, 1\]"),
    ({"temperature": 0, "top_k": 2}, r"greedy decoding \(temperature 0\) takes the most likely token; top_k does not"),
    ({"temperature": 0, "top_p": 0.5}, r"greedy decoding \(temperature 0\) takes the most likely token; top_p does"),
])
def test_controls_that_cannot_work_are_refused_when_made(controls, match):
    with pytest.raises(ValueError, match=match):
        Controls(**controls)


def test_top_p_counts_a_sum_that_rounds_below_p_as_reaching_it():
    """0.7 + 0.2 is 0.8999999999999999 in floating point: the nucleus of P = 0.9 is still {0.7, 0.2}."""
    from seqfw.tasks.sampling import Controls, next_tokens

    rng = np.random.default_rng(0)
    drawn = {int(next_tokens(np.log([[0.7, 0.2, 0.1]]), [], Controls(1.0, top_p=0.9), rng)[0]) for _ in range(400)}
    assert drawn == {0, 1}
