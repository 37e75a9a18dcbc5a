"""Encoder–decoder (sequence to sequence) for T_x ≠ T_y, with greedy and beam-search decoding.

    s      = encoder(x<1> … x<T_x>)                 final state of every layer (bidirectional: fwd + bwd)
    a<0>   = s
    a<t>   = decoder(E_y[y<t-1>], a<t-1>)           teacher forcing: the true previous token, y<0> = <eos>
    ŷ<t>   = softmax(W_ya a<t> + b_y)               t = 1 … T_y, then <eos>

Encoder and decoder are ``Stacked`` networks of the same cell, depth and hidden
size; the decoder is unidirectional. Params ``{"src_embed", "tgt_embed",
"encoder", "decoder", "head"}``.
"""
from __future__ import annotations

import numpy as np

from ..backend import to_host, xp_of
from ..cells.base import init_args
from ..errors import check_same_dtype
from ..layers import Dense, Embedding
from ..losses import softmax_cross_entropy
from ..recurrence import Bidirectional, Stacked, loss_mask
from ..tree import tree_map
from .batch import Batch, host_lengths
from .decoding import extend_unfinished, log_softmax_rows


class EncoderDecoder:
    """Sequence to sequence (T_x ≠ T_y): the batch's ``inputs`` are the source, ``decoder_inputs`` the
    teacher-forced target inputs, ``targets`` the target outputs."""

    kind = "encoder_decoder"
    per_step = False  # the loss is over the decoder's steps, not the input's: no truncated BPTT

    def __init__(self, src_vocab: int, tgt_vocab: int, embed_dim: int, encoder: Stacked, decoder: Stacked):
        if len(encoder.layers) != len(decoder.layers):
            raise ValueError("encoder_decoder: encoder and decoder need the same number of layers")
        if any(isinstance(layer, Bidirectional) for layer in decoder.layers):
            raise ValueError("encoder_decoder: the decoder generates left to right; it cannot be bidirectional")
        self.src_embed, self.tgt_embed = Embedding(src_vocab, embed_dim), Embedding(tgt_vocab, embed_dim)
        self.encoder, self.decoder = encoder, decoder
        self.head = Dense(decoder.output_size, tgt_vocab)

    def init_params(self, rng, xp=None, dtype=None, *, seed: int | None = None) -> dict:
        """``init_params(be)`` (drawn from ``be.host_rng(seed)``, in ``be.xp`` and ``be.dtype``) or
        ``init_params(rng, xp, dtype)``; one generator for every part, in the order of the dict."""
        rng, xp, dtype = init_args("EncoderDecoder.init_params", rng, xp, dtype, seed)
        return {"src_embed": self.src_embed.init_params(rng, xp, dtype),
                "tgt_embed": self.tgt_embed.init_params(rng, xp, dtype),
                "encoder": self.encoder.init_params(rng, xp, dtype),
                "decoder": self.decoder.init_params(rng, xp, dtype),
                "head": self.head.init_params(rng, xp, dtype)}

    def check_dtypes(self, params, owner: str = "EncoderDecoder") -> None:
        """``DtypeError`` unless every part's parameters share one dtype (the inputs are ids)."""
        check_same_dtype(owner, *((f"the {part} parameters are", params[part])
                                  for part in ("encoder", "decoder", "src_embed", "tgt_embed", "head")))

    # -- the bridge: encoder final states -> decoder initial states, and back ---------------------
    @staticmethod
    def _bridge(finals: list) -> list:
        def merge(layer):
            if "bwd" not in layer:
                return {"fwd": layer["fwd"]}
            return {"fwd": tree_map(lambda a, b: a + b, layer["fwd"], layer["bwd"])}

        return [merge(layer) for layer in finals]

    @staticmethod
    def _bridge_backward(dstates: list, finals: list) -> list:
        return [{d: dstate["fwd"] for d in layer} for dstate, layer in zip(dstates, finals)]

    def encode(self, params, src, src_lengths):
        e = self.src_embed.forward(params["src_embed"], src)
        _, finals, cache = self.encoder.forward(params["encoder"], e, src_lengths)
        return finals, cache

    def loss_and_grads(self, params, batch: Batch, state=None, train: bool = True, noise=None,
                       step_norms: bool = False, loss_steps: str = "all"):
        """Teacher-forced loss (summed over target steps, mean over the batch) and its gradients:
        ``(loss, grads, None, norms)``; ``norms`` lists the encoder's layers, then the decoder's.
        ``loss_steps``: the target steps whose terms count (``all``, or each sequence's ``last`` or ``first``).

        ``state`` must be None: the encoder starts from zeros and hands its final state to the
        decoder (there is no truncated BPTT across encoder–decoder batches)."""
        if state is not None:
            raise ValueError("EncoderDecoder.loss_and_grads: the encoder starts from zeros; state must be None")
        self.check_dtypes(params, "EncoderDecoder.loss_and_grads")
        src, src_lengths, tgt_in, tgt_out, tgt_lengths = (batch.inputs, batch.lengths, batch.decoder_inputs,
                                                          batch.targets, batch.target_lengths)
        e = self.src_embed.forward(params["src_embed"], src)
        _, finals, enc_cache = self.encoder.forward(params["encoder"], e, src_lengths, train=train, noise=noise)
        d = self.tgt_embed.forward(params["tgt_embed"], tgt_in)
        ys, _, dec_cache = self.decoder.forward(params["decoder"], d, tgt_lengths, self._bridge(finals),
                                                train=train, noise=noise)
        logits = self.head.forward(params["head"], ys)
        loss, dlogits = softmax_cross_entropy(logits, tgt_out, loss_mask(tgt_lengths, tgt_in.shape[0], loss_steps,
                                                                         xp_of(ys), tgt_in.shape[1]))
        dys, g_head = self.head.backward(params["head"], dlogits, ys)
        dd, dstate0, g_dec, norms = self.decoder.backward(params["decoder"], dys, None, dec_cache, step_norms)
        de, _, g_enc, enc_norms = self.encoder.backward(params["encoder"], None,
                                                        self._bridge_backward(dstate0, finals), enc_cache, step_norms)
        grads = {"src_embed": self.src_embed.backward(params["src_embed"], de, src),
                 "tgt_embed": self.tgt_embed.backward(params["tgt_embed"], dd, tgt_in),
                 "encoder": g_enc, "decoder": g_dec, "head": g_head}
        return loss, grads, None, (enc_norms + norms if step_norms else norms)

    def curve_layers(self, batch: Batch) -> list[tuple[str, np.ndarray]]:
        """``(name, lengths on the host)`` of each layer whose norms ``loss_and_grads`` returns, in order."""
        n = len(self.encoder.layers)
        src = host_lengths(batch.lengths, *batch.inputs.shape[:2])
        tgt = host_lengths(batch.target_lengths, *batch.decoder_inputs.shape[:2])
        return [(f"encoder{l}", src) for l in range(n)] + [(f"decoder{l}", tgt) for l in range(n)]

    # -- inference ------------------------------------------------------------------------------
    def _step(self, params, tokens, state, xp):
        """One decoder step for a (B,) batch of previous tokens -> (log-probs (B, V) on the host, state)."""
        d = self.tgt_embed.forward(params["tgt_embed"], xp.asarray(tokens)[None, :])
        ys, state, _ = self.decoder.forward(params["decoder"], d, None, state)
        return log_softmax_rows(to_host(self.head.forward(params["head"], ys[0]))), state

    def greedy(self, params, src, src_lengths, start: int, eos: int, max_len: int) -> list[list[int]]:
        """Feed back the most likely token until ``<eos>`` or ``max_len``."""
        self.check_dtypes(params, "EncoderDecoder.greedy")
        xp = xp_of(src) if not isinstance(src, np.ndarray) else np
        finals, _ = self.encode(params, src, src_lengths)
        state, B = self._bridge(finals), src.shape[1]
        tokens, out, done = np.full(B, start), [[] for _ in range(B)], np.zeros(B, bool)
        for _ in range(max_len):
            logp, state = self._step(params, tokens, state, xp)
            tokens = logp.argmax(axis=1)
            extend_unfinished(out, done, tokens, eos)
            if done.all():
                break
        return out

    def beam_search(self, params, src, src_lengths, start: int, eos: int, max_len: int, beam: int) -> list[list[int]]:
        """Keep the ``beam`` most likely prefixes (sum of log-probs) per source; return the best finished one.

        Scores only fall as tokens are added, so once a finished hypothesis scores at least the best
        live one, nothing can beat it and the search stops.
        """
        self.check_dtypes(params, "EncoderDecoder.beam_search")
        xp = np if isinstance(src, np.ndarray) else xp_of(src)
        finals, _ = self.encode(params, src, src_lengths)
        bridged = self._bridge(finals)
        results = []
        for b in range(src.shape[1]):
            state = tree_map(lambda a: a[b : b + 1], bridged)
            live, rows, finished = [([], 0.0)], [0], []
            for _ in range(max_len):
                last = np.array([toks[-1] if toks else start for toks, _ in live])
                picked = xp.asarray(rows)
                logp, state = self._step(params, last, tree_map(lambda a: a[picked], state), xp)
                cand = sorted(((score + logp[i, v], i, int(v)) for i, (_, score) in enumerate(live)
                               for v in np.argsort(logp[i])[::-1][:beam]), key=lambda c: -c[0])
                prev, live, rows = live, [], []
                for score, i, v in cand:
                    if v == eos:
                        finished.append((prev[i][0], score))
                    else:
                        live.append((prev[i][0] + [v], score))
                        rows.append(i)
                    if len(live) == beam:
                        break
                if not live or (finished and max(f[1] for f in finished) >= live[0][1]):
                    break
            results.append(max(finished + live, key=lambda h: h[1])[0])
        return results
