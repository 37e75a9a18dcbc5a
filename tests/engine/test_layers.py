"""Embedding, dense heads, last-step gathering and the many-to-many model, by finite differences."""
import numpy as np
import pytest

from seqfw import recurrent
from seqfw.engine.layers import Dense, Embedding, last_step, last_step_backward
from seqfw.testing import numerical_grad, rel_error
from seqfw.engine.models import Batch, ManyToMany


def test_embedding_is_a_lookup_and_its_gradient_accumulates_repeats(rng):
    emb = Embedding(5, 3)
    p = emb.init_params(rng, np, np.float64)
    tokens = np.array([[1, 1], [4, 1]])
    np.testing.assert_array_equal(emb.forward(p, tokens), p["W"][tokens])
    dx = rng.standard_normal((2, 2, 3))
    dW = emb.backward(p, dx, tokens)["W"]
    np.testing.assert_allclose(dW[1], dx[0, 0] + dx[0, 1] + dx[1, 1])
    np.testing.assert_allclose(dW[4], dx[1, 0])
    assert np.all(dW[[0, 2, 3]] == 0)


def test_dense_head_gradients(rng):
    dense = Dense(4, 3)
    p = dense.init_params(rng, np, np.float64)
    h, R = rng.standard_normal((5, 2, 4)), rng.standard_normal((5, 2, 3))
    dh, g = dense.backward(p, R, h)
    f = lambda: float((dense.forward(p, h) * R).sum())  # noqa: E731
    assert rel_error(g["W"], numerical_grad(f, p["W"])) < 1e-8
    assert rel_error(g["b"], numerical_grad(f, p["b"])) < 1e-8
    assert rel_error(dh, numerical_grad(f, h)) < 1e-8


def test_last_step_picks_each_sequences_last_real_output(rng):
    ys = rng.standard_normal((4, 3, 2))
    lengths = np.array([4, 1, 3])
    last = last_step(ys, lengths)
    np.testing.assert_array_equal(last, np.stack([ys[3, 0], ys[0, 1], ys[2, 2]]))
    d = last_step_backward(np.ones((3, 2)), lengths, 4)
    assert d.sum() == 6 and np.all(d[0, 1] == 1) and np.all(d[3, 0] == 1) and np.all(d[2, 2] == 1)
    np.testing.assert_array_equal(last_step(ys, None), ys[-1])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_many_to_many_model_gradients(rng, bidirectional):
    model = ManyToMany(recurrent("lstm", 3, 4, num_layers=2, bidirectional=bidirectional), 5, "softmax", 6, 3)
    p = model.init_params(rng, np, np.float64)
    tokens, targets, lengths = rng.integers(0, 6, (5, 3)), rng.integers(0, 5, (5, 3)), np.array([5, 2, 4])
    loss, grads, _, _ = model.loss_and_grads(p, Batch(tokens, targets, lengths))
    f = lambda: model.loss_and_grads(p, Batch(tokens, targets, lengths))[0]  # noqa: E731
    assert rel_error(grads["embed"]["W"], numerical_grad(f, p["embed"]["W"])) < 1e-6
    assert rel_error(grads["head"]["W"], numerical_grad(f, p["head"]["W"])) < 1e-6
    W_h = p["rnn"]["layers"][0]["fwd"]["W_h"]
    assert rel_error(grads["rnn"]["layers"][0]["fwd"]["W_h"], numerical_grad(f, W_h)) < 1e-6  # small entries: FD noise ~1e-7
    # loss = mean over the batch of the summed per-step cross-entropies
    logits, _ = model.logits(p, tokens, lengths)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, targets[..., None], -1)[..., 0] * (np.arange(5)[:, None] < lengths)
    assert loss == pytest.approx(nll.sum() / 3, rel=1e-12)


from seqfw.engine.models import sequence_model  # noqa: E402


@pytest.mark.parametrize("loss", ["softmax", "mse", "sigmoid"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["many_to_one", "one_to_one", "many_to_many"])
def test_every_model_kind_is_differentiated_end_to_end(rng, kind, bidirectional, loss):
    """Finite differences through inputs, summary (last real step / both directions / mean), head and loss."""
    tokens = loss == "softmax"
    net = recurrent("gru", 3, 4, num_layers=2, bidirectional=bidirectional)
    model = sequence_model(kind, net, 3, loss, vocab_size=6 if tokens else None, embed_dim=3 if tokens else None)
    p = model.init_params(rng, np, np.float64)
    lengths = np.array([5, 2, 4])
    x = rng.integers(0, 6, (5, 3)) if tokens else rng.standard_normal((5, 3, 3))
    shape = (5, 3) if kind == "many_to_many" else (3,)
    if loss == "softmax":
        y = rng.integers(0, 3, shape)
    else:
        y = rng.random(shape + (3,)) if loss == "sigmoid" else rng.standard_normal(shape + (3,))
    _, grads, _, _ = model.loss_and_grads(p, Batch(x, y, lengths))
    f = lambda: model.loss_and_grads(p, Batch(x, y, lengths))[0]  # noqa: E731
    checks = [(grads["head"]["W"], p["head"]["W"]), (grads["rnn"]["layers"][0]["fwd"]["W_x"],
                                                     p["rnn"]["layers"][0]["fwd"]["W_x"])]
    if bidirectional:
        checks.append((grads["rnn"]["layers"][1]["bwd"]["W_h"], p["rnn"]["layers"][1]["bwd"]["W_h"]))
    if tokens:
        checks.append((grads["embed"]["W"], p["embed"]["W"]))
    for g, param in checks:
        assert rel_error(g, numerical_grad(f, param)) < 1e-6


def test_many_to_one_reads_the_last_real_step_and_ignores_padding(rng):
    net = recurrent("lstm", 2, 3, bidirectional=True)
    model = sequence_model("many_to_one", net, 2, "mse")
    p = model.init_params(rng, np, np.float64)
    x = rng.standard_normal((6, 2, 2))
    out, _ = model.logits(p, x, np.array([6, 3]))
    alone, _ = model.logits(p, x[:3, 1:2], None)
    np.testing.assert_allclose(out[1], alone[0], rtol=1e-12)


def test_one_to_one_is_order_free(rng):
    """The whole input as one step: a bag of words, blind to word order."""
    model = sequence_model("one_to_one", recurrent("rnn", 3, 4), 2, "softmax", vocab_size=9, embed_dim=3)
    p = model.init_params(rng, np, np.float64)
    x = np.array([[1, 2], [5, 7], [8, 4], [0, 6]])  # columns: [1 5 8 | pad], [2 7 | pad pad]
    shuffled = np.array([[8, 7], [1, 2], [5, 0], [3, 0]])  # same words, other order, other padding
    out, _ = model.logits(p, x, np.array([3, 2]))
    again, _ = model.logits(p, shuffled, np.array([3, 2]))
    np.testing.assert_allclose(out, again, rtol=1e-12)
    other, _ = model.logits(p, np.array([[8, 7], [1, 2], [4, 0], [3, 0]]), np.array([3, 2]))
    assert not np.allclose(out[0], other[0])  # a different word does change it
