"""Course 1.7's sampling rules: fed back, never <unk>, stops at <eos> or the limit, seeded."""
import numpy as np
import pytest

from seqfw import recurrent
from seqfw.tasks.sampling import sample_ids
from seqfw.tasks.vocab import EOS, UNK, Vocab
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
