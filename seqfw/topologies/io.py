"""Heads that turn a recurrent network into a model: tokens in, per-step predictions out."""
from __future__ import annotations

import numpy as np

from ..backend import Array
from ..layers import Dense, Embedding
from ..losses import softmax_cross_entropy
from .stacked import Stacked
from .unroll import length_mask


class ManyToMany:
    """Many-to-many (T_y = T_x), e.g. a language model or a tagger::

        e<t> = E[x<t>]                                  embedding lookup (T, B, E)
        a<t> = rnn(e<t>, a<t-1>)                        any Stacked network (T, B, H)
        ŷ<t> = softmax(W_ya a<t> + b_y)                 dense head on every step (T, B, V)
        L    = (1/B) Σ_b Σ_t L<t>(ŷ<t>, y<t>)           masked: padding adds nothing

    Params ``{"embed": ..., "rnn": ..., "head": ...}``.
    """

    def __init__(self, vocab_size: int, embed_dim: int, net: Stacked, num_classes: int):
        if net.input_size != embed_dim:
            raise ValueError(f"ManyToMany: the network reads size {net.input_size}, the embedding gives {embed_dim}")
        self.embed = Embedding(vocab_size, embed_dim)
        self.rnn = net
        self.head = Dense(net.output_size, num_classes)

    def init_params(self, rng: np.random.Generator, xp=np, dtype=np.float32) -> dict:
        return {"embed": self.embed.init_params(rng, xp, dtype), "rnn": self.rnn.init_params(rng, xp, dtype),
                "head": self.head.init_params(rng, xp, dtype)}

    def logits(self, params, tokens: Array, lengths: Array | None = None, state=None):
        """(T, B) token ids -> ``(logits (T, B, V), final states)``, no gradient bookkeeping kept."""
        ys, finals, _ = self.rnn.forward(params["rnn"], self.embed.forward(params["embed"], tokens), lengths, state)
        return self.head.forward(params["head"], ys), finals

    def loss_and_grads(self, params, tokens: Array, targets: Array, lengths: Array | None = None, state=None,
                       train: bool = True, noise=None, step_norms: bool = False):
        """Forward and backward over one batch (or one TBPTT window).

        Returns ``(loss, grads, final states, norms)``; ``norms[l][direction]``
        is the (T,) curve ‖∂L/∂a^[l]<t>‖ when ``step_norms`` is set.
        """
        T = tokens.shape[0]
        e = self.embed.forward(params["embed"], tokens)
        ys, finals, cache = self.rnn.forward(params["rnn"], e, lengths, state, train=train, noise=noise)
        logits = self.head.forward(params["head"], ys)
        loss, dlogits = softmax_cross_entropy(logits, targets, length_mask(lengths, T))
        dys, g_head = self.head.backward(params["head"], dlogits, ys)
        de, _, g_rnn, norms = self.rnn.backward(params["rnn"], dys, None, cache, step_norms)
        grads = {"embed": self.embed.backward(params["embed"], de, tokens), "rnn": g_rnn, "head": g_head}
        return loss, grads, finals, norms
