"""The encoder–decoder: BPTT through both networks and the bridge; greedy and beam-search decoding."""
import numpy as np
import pytest

from seqfw import recurrent
from seqfw.testing import numerical_grad, rel_error
from seqfw.engine.models import Batch, EncoderDecoder

START = EOS = 1


def _model(rng, cell="lstm", bidirectional=False, layers=2):
    enc = recurrent(cell, 3, 4, num_layers=layers, bidirectional=bidirectional)
    dec = recurrent(cell, 3, 4, num_layers=layers)
    model = EncoderDecoder(7, 5, 3, enc, dec)
    return model, model.init_params(rng, np, np.float64)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradients_flow_through_decoder_bridge_and_encoder(rng, cell, bidirectional):
    model, p = _model(rng, cell, bidirectional)
    src, src_len = rng.integers(0, 7, (6, 3)), np.array([6, 3, 4])
    tin, tout, tlen = rng.integers(0, 5, (4, 3)), rng.integers(0, 5, (4, 3)), np.array([4, 2, 3])
    batch = Batch(src, tout, src_len, tin, tlen)
    _, g, _, _ = model.loss_and_grads(p, batch)
    f = lambda: model.loss_and_grads(p, batch)[0]  # noqa: E731
    pairs = [(g["src_embed"]["W"], p["src_embed"]["W"]), (g["tgt_embed"]["W"], p["tgt_embed"]["W"]),
             (g["encoder"]["layers"][0]["fwd"]["W_h"], p["encoder"]["layers"][0]["fwd"]["W_h"]),
             (g["decoder"]["layers"][1]["fwd"]["W_x"], p["decoder"]["layers"][1]["fwd"]["W_x"])]
    if bidirectional:
        pairs.append((g["encoder"]["layers"][1]["bwd"]["b"], p["encoder"]["layers"][1]["bwd"]["b"]))
    for analytic, param in pairs:
        assert rel_error(analytic, numerical_grad(f, param)) < 1e-6


def _logp(model, p, src, src_len, tokens):
    """log P(tokens, <eos> | src) under teacher forcing."""
    tin = np.array([START] + tokens)[:, None]
    tout = np.array(tokens + [EOS])[:, None]
    loss, *_ = model.loss_and_grads(p, Batch(src, tout, src_len, tin, np.array([len(tokens) + 1])))
    return -loss


def test_beam_search_never_scores_below_greedy_and_beam_one_is_greedy(rng):
    model, p = _model(rng)
    for seed in range(5):
        src = np.random.default_rng(seed).integers(0, 7, (5, 1))
        src_len = np.array([5])
        greedy = model.greedy(p, src, src_len, START, EOS, 6)[0]
        assert model.beam_search(p, src, src_len, START, EOS, 6, beam=1)[0] == greedy
        beam = model.beam_search(p, src, src_len, START, EOS, 6, beam=4)[0]
        if len(greedy) < 6 and len(beam) < 6:  # both finished: compare whole-sequence likelihoods
            assert _logp(model, p, src, src_len, beam) >= _logp(model, p, src, src_len, greedy) - 1e-9


def test_decoding_stops_at_eos_and_respects_the_limit(rng):
    model, p = _model(rng)
    p["head"]["b"][EOS] = 50.0  # the decoder wants to stop at once
    src, src_len = rng.integers(0, 7, (4, 2)), np.array([4, 2])
    assert model.greedy(p, src, src_len, START, EOS, 5) == [[], []]
    assert model.beam_search(p, src, src_len, START, EOS, 5, 3) == [[], []]
    p["head"]["b"][EOS], p["head"]["b"][3] = -50.0, 50.0  # never stops: the limit ends it
    assert model.greedy(p, src, src_len, START, EOS, 5) == [[3] * 5, [3] * 5]
    assert model.beam_search(p, src, src_len, START, EOS, 5, 3) == [[3] * 5, [3] * 5]


def test_a_bidirectional_decoder_is_refused():
    enc, dec = recurrent("gru", 3, 4), recurrent("gru", 3, 4, bidirectional=True)
    with pytest.raises(ValueError, match="decoder generates left to right"):
        EncoderDecoder(5, 5, 3, enc, dec)
