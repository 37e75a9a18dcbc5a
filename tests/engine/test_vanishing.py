"""The gradient views (seqfw.engine.vanishing): the lag view against finite differences of the hidden
state, and the step view unchanged by padding."""
import numpy as np
import pytest

from seqfw import recurrent
from seqfw.engine.models import Batch, EncoderDecoder, sequence_model
from seqfw.engine.recurrence import unroll
from seqfw.engine.tree import tree_map
from seqfw.engine.vanishing import lag_view, step_view

EPS = 1e-6
LENGTHS = np.array([7, 4, 1, 6])  # ragged, with a sequence of one step


def _model(cell, kind="many_to_many", bidirectional=False, num_layers=1, seed=0):
    net = recurrent(cell, 3, 4, num_layers=num_layers, bidirectional=bidirectional)
    model = sequence_model(kind, net, 5)
    rng = np.random.default_rng(seed)
    params = model.init_params(rng, np, np.float64)
    for tree in params["rnn"]["layers"]:  # larger weights than the default: gradients that visibly vanish
        for direction in tree.values():
            for name in direction:
                direction[name] = direction[name] * 1.5
    return model, params


def _batch(kind, lengths=LENGTHS, seed=1):
    rng = np.random.default_rng(seed)
    T, B = int(lengths.max()), len(lengths)
    x = rng.standard_normal((T, B, 3))
    x[np.arange(T)[:, None] >= lengths[None, :]] = 0.0
    y = rng.integers(0, 5, (T, B)) if kind != "many_to_one" else rng.integers(0, 5, B)
    return Batch(x, y, lengths)


def _nll(logits, target):
    z = logits - logits.max()
    return float(np.log(np.exp(z).sum()) - z[target])


def _fd_forward(model, params, x, target, s, tau):
    """‖∂L⟨τ⟩/∂a⟨s⟩‖ of one sequence (x: (L, 1, D)) by central differences of its forward state a⟨s⟩,
    every other part of the state (an LSTM's c⟨s⟩) held fixed."""
    net = model.rnn
    _, finals, _ = net.forward(params["rnn"], x[: s + 1])
    state = finals[0]["fwd"]

    def loss(h):
        start = [{"fwd": state._replace(**{state._fields[0]: h})}]
        if s == tau:
            return _nll(model.head.forward(params["head"], h)[0], target)
        logits, _ = model.logits(params, x[s + 1 : tau + 1], None, start)
        return _nll(logits[-1, 0] if logits.ndim == 3 else logits[0], target)

    h0, grad = state[0], np.zeros(state[0].shape[1])
    for i in range(grad.size):
        up, down = h0.copy(), h0.copy()
        up[0, i] += EPS
        down[0, i] -= EPS
        grad[i] = (loss(up) - loss(down)) / (2 * EPS)
    return np.linalg.norm(grad)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("kind", ["many_to_many", "many_to_one"])
def test_lag_view_equals_finite_differences_of_the_state(cell, kind):
    model, params = _model(cell, kind)
    batch = _batch(kind)
    curve = lag_view(model, params, batch)["layer0/fwd"]
    expected = np.zeros(LENGTHS.max())
    for b, L in enumerate(LENGTHS):
        x = batch.inputs[:L, b : b + 1]
        target = batch.targets[L - 1, b] if kind == "many_to_many" else batch.targets[b]
        for k in range(L):
            expected[k] += _fd_forward(model, params, x, target, L - 1 - k, L - 1)
    count = np.array([(LENGTHS > k).sum() for k in range(LENGTHS.max())])
    np.testing.assert_array_equal(curve.count, count)
    np.testing.assert_allclose(curve.norm, expected / count, rtol=1e-6)
    assert curve.norm[-1] < curve.norm[0]  # and it does fall with distance here


def test_lag_view_of_the_reverse_direction_starts_at_the_first_step():
    """Reading backwards, the loss term at t = 0 is the direction's last: bwd⟨k⟩ is k steps before it."""
    model, params = _model("rnn", bidirectional=True)
    batch = _batch("many_to_many")
    curve = lag_view(model, params, batch)["layer0/bwd"]
    p, cell = params["rnn"]["layers"][0], model.rnn.layers[0].cells["bwd"]
    expected = np.zeros(LENGTHS.max())
    for b, L in enumerate(LENGTHS):
        x, target = batch.inputs[:L, b : b + 1], batch.targets[0, b]
        fwd0 = model.rnn.forward(params["rnn"], x[:1])[0][0, :, :4]  # fwd⟨0⟩ sees x⟨0⟩ only
        rev = x[::-1]  # the reverse cell reads x⟨L−1⟩ … x⟨0⟩
        for k in range(L):
            _, at_k, _ = unroll(cell, p["bwd"], rev[: L - k], cell.initial_state(1, np, np.float64))

            def loss(h):
                if k == 0:
                    bwd0 = h
                else:
                    ys, _, _ = unroll(cell, p["bwd"], rev[L - k :], at_k._replace(**{at_k._fields[0]: h}))
                    bwd0 = ys[-1]
                return _nll(model.head.forward(params["head"], np.concatenate([fwd0, bwd0], axis=-1))[0], target)

            h0, grad = at_k[0], np.zeros(4)
            for i in range(4):
                up, down = h0.copy(), h0.copy()
                up[0, i] += EPS
                down[0, i] -= EPS
                grad[i] = (loss(up) - loss(down)) / (2 * EPS)
            expected[k] += np.linalg.norm(grad)
    count = np.array([(LENGTHS > k).sum() for k in range(LENGTHS.max())])
    np.testing.assert_allclose(curve.norm, expected / count, rtol=1e-6)


@pytest.mark.parametrize("bidirectional, num_layers", [(False, 1), (True, 1), (False, 2), (True, 2)])
@pytest.mark.parametrize("view", [step_view, lag_view])
def test_padding_changes_no_view(view, bidirectional, num_layers):
    """A padded batch gives, at every step (or distance), the mean of what each sequence gives alone."""
    model, params = _model("lstm", bidirectional=bidirectional, num_layers=num_layers)
    batch = _batch("many_to_many")
    padded = view(model, params, batch)
    alone = [view(model, params, Batch(batch.inputs[:L, b : b + 1], batch.targets[:L, b : b + 1], LENGTHS[b : b + 1]))
             for b, L in enumerate(LENGTHS)]
    assert list(padded) == list(alone[0])  # the same panels, forward first
    for panel, curve in padded.items():
        for t in range(LENGTHS.max()):
            values = [a[panel].norm[t] for a in alone if len(a[panel].norm) > t]
            assert curve.count[t] == len(values)
            np.testing.assert_allclose(curve.norm[t], np.mean(values), rtol=1e-10)


def test_the_step_view_does_not_fall_where_sequences_end():
    """The old curve (a norm over the batch, padding as zeros) fell as sentences ended; the mean does not.
    The same sequence repeated with different amounts of padding gives a flat count-independent mean."""
    model, params = _model("gru")
    one = _batch("many_to_many", np.array([7]))
    x = np.repeat(one.inputs, 5, axis=1)
    y = np.repeat(one.targets, 5, axis=1)
    lengths = np.array([7, 7, 7, 7, 7])
    full = step_view(model, params, Batch(x, y, lengths))["layer0/fwd"]
    x8 = np.concatenate([x, np.zeros((3, 5, 3))])
    y8 = np.concatenate([y, np.zeros((3, 5), dtype=int)])
    padded = step_view(model, params, Batch(x8, y8, lengths))["layer0/fwd"]
    np.testing.assert_allclose(padded.norm, full.norm, rtol=1e-12)
    assert len(padded.norm) == 7  # steps no sequence has are not drawn as zeros


def test_encoder_decoder_panels_and_lengths():
    """Encoder layers are measured over the source's steps, decoder layers over the target's."""
    enc = recurrent("gru", 3, 4, bidirectional=True)
    dec = recurrent("gru", 3, 4)
    model = EncoderDecoder(6, 7, 3, enc, dec)
    params = model.init_params(np.random.default_rng(0), np, np.float64)
    rng = np.random.default_rng(2)
    src_len, tgt_len = np.array([5, 3]), np.array([2, 4])
    src, tgt_in, tgt_out = rng.integers(1, 6, (5, 2)), rng.integers(1, 7, (4, 2)), rng.integers(1, 7, (4, 2))
    batch = Batch(src, tgt_out, src_len, tgt_in, tgt_len)
    for view in (step_view, lag_view):
        curves = view(model, params, batch)
        assert list(curves) == ["encoder0/fwd", "encoder0/bwd", "decoder0/fwd"]
        assert list(curves["encoder0/fwd"].count) == [2, 2, 2, 1, 1]
        assert list(curves["decoder0/fwd"].count) == [2, 2, 1, 1]
        assert all(np.all(c.norm > 0) for c in curves.values())


@pytest.mark.parametrize("kind", ["many_to_many", "many_to_one"])
def test_a_batch_without_lengths_is_read_as_unpadded(kind):
    model, params = _model("gru", kind, bidirectional=True)
    full = np.array([7, 7, 7, 7])
    batch = _batch(kind, full)
    for view in (step_view, lag_view):
        without, with_lengths = view(model, params, batch._replace(lengths=None)), view(model, params, batch)
        assert list(without) == list(with_lengths)
        for panel, curve in without.items():
            np.testing.assert_array_equal(curve.count, [4] * 7)
            np.testing.assert_allclose(curve.norm, with_lengths[panel].norm, rtol=1e-12)


def test_norms_are_summed_in_float64_so_a_float32_run_sees_them_until_the_gradient_itself_underflows():
    """A float32 sum of squares is 0 below norms of ~1e-22; the gradient itself holds down to ~1e-38."""
    model, params = _model("rnn", "many_to_one")
    for tree in params["rnn"]["layers"]:
        tree["fwd"]["W_h"] = tree["fwd"]["W_h"] * 0.1  # a contracting recurrence: a geometric fall
    params32 = tree_map(lambda a: a.astype(np.float32), params)
    batch = _batch("many_to_many", np.array([40, 40]))
    batch = Batch(batch.inputs.astype(np.float32), np.array([1, 2]), batch.lengths)
    g64 = lag_view(model, params, batch._replace(inputs=batch.inputs.astype(np.float64)))["layer0/fwd"].norm
    g32 = lag_view(model, params32, batch)["layer0/fwd"].norm
    seen = g64 > 1e-36  # where the float32 gradient is still a normal number
    assert seen.sum() > 10 and g64[seen].min() < 1e-25  # the curve passes far below float32's squares' floor
    np.testing.assert_allclose(g32[seen], g64[seen], rtol=1e-3)
