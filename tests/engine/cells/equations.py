"""The course's equations for one step of each built-in cell, written out by hand for the conformance
kit's reference hook (``CellSuite.reference``, ``seqfw.testing.check_reference``).

Each ``*_step(p, x, state) -> (h, new_state)`` gets the cell's own float64 parameters in the code's
fused row-vector layout (``W_x`` (D, G*H), ``W_h`` (H, G*H), ``b`` (G*H,), gate blocks side by side
in the order of the cell's ``GATES``), the raw input x (B, D) and the previous state, and computes
the step one example at a time in the course's column-vector notation: for gate block k the course
matrix acting on the column [a<t-1>; x<t>] is [W_h[:, k]^T | W_x[:, k]^T] (H, H + D).

Nothing here comes from seqfw: σ is the textbook 1 / (1 + exp(-z)) (the cells compute it through
tanh), the gate orders are copied from the docstrings, and every product is written per example.

The second part holds deliberate misreadings of the same equations, each one a mistake a student
could make from the course's notation or the code's layout; the tests check that the kit rejects
each of them, i.e. that the references above really pin the cells down.
"""
import numpy as np


def sigma(z):
    """The logistic function, as the course writes it."""
    return 1 / (1 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0)


def course_gate(p, k, H):
    """Gate block k of the fused layout as the course writes it: W (H, H + D) acting on the column
    [a<t-1>; x<t>] (the code's ``W_h`` block transposed, beside its ``W_x`` block transposed),
    and the bias b (H,)."""
    block = slice(k * H, (k + 1) * H)
    W = np.concatenate([p["W_h"][:, block].T, p["W_x"][:, block].T], axis=1)
    return W, p["b"][block]


# -- RNN: GATES = ("a",); W_x = W_ax^T, W_h = W_aa^T, b = b_a ------------------------------------

def rnn_tanh_step(p, x, state):
    """The basic RNN with g = tanh::

        a<t> = tanh(W_aa a<t-1> + W_ax x<t> + b_a)
    """
    W_aa, W_ax, b_a = p["W_h"].T, p["W_x"].T, p["b"]
    a_prev = state.h
    a = np.stack([np.tanh(W_aa @ a_prev[i] + W_ax @ x[i] + b_a) for i in range(len(x))])
    return a, (a,)


def rnn_relu_step(p, x, state):
    """The basic RNN with g = relu::

        a<t> = max(0, W_aa a<t-1> + W_ax x<t> + b_a)
    """
    W_aa, W_ax, b_a = p["W_h"].T, p["W_x"].T, p["b"]
    a_prev = state.h
    a = np.stack([relu(W_aa @ a_prev[i] + W_ax @ x[i] + b_a) for i in range(len(x))])
    return a, (a,)


# -- GRU -------------------------------------------------------------------------------------------

def gru_simple_step(p, x, state):
    """The course's simplified GRU (GATES = ("z", "n"): z = Γu, n = c~; c<t> = a<t>)::

        c~<t> = tanh(W_c [c<t-1>, x<t>] + b_c)
        Γu    = σ(W_u [c<t-1>, x<t>] + b_u)
        c<t>  = Γu * c~<t> + (1 - Γu) * c<t-1>
    """
    return _gru_simple(p, x, state, inverted=False)


def gru_step(p, x, state):
    """The course's full GRU, Cho et al. (2014) form (GATES = ("r", "z", "n"): r = Γr, z = Γu, n = c~)::

        Γr    = σ(W_r [c<t-1>, x<t>] + b_r)
        Γu    = σ(W_u [c<t-1>, x<t>] + b_u)
        c~<t> = tanh(W_c [Γr * c<t-1>, x<t>] + b_c)
        c<t>  = Γu * c~<t> + (1 - Γu) * c<t-1>
    """
    return _gru(p, x, state, course_candidate)


def gru_reset_after_step(p, x, state):
    """The GRU in cuDNN's and PyTorch's form: Γr multiplies the recurrent product, which has its
    own bias b_hn (GATES = ("r", "z", "n"); W_hc, W_xc the n blocks of W_h, W_x transposed)::

        Γr    = σ(W_r [c<t-1>, x<t>] + b_r)
        Γu    = σ(W_u [c<t-1>, x<t>] + b_u)
        c~<t> = tanh(W_xc x<t> + b_c + Γr * (W_hc c<t-1> + b_hn))
        c<t>  = Γu * c~<t> + (1 - Γu) * c<t-1>
    """
    return _gru(p, x, state, lambda p, H, c_prev, x, gamma_r: np.tanh(
        n_block(p, 'W_x', H) @ x + p['b'][2 * H:] + gamma_r * (n_block(p, 'W_h', H) @ c_prev + p['b_hn'])))


# -- LSTM: GATES = ("i", "f", "g", "o"): i = Γu, f = Γf, g = c~, o = Γo ---------------------------

def _gru_simple(p, x, state, inverted):
    """The simplified GRU (GATES = ("z", "n")), c<t> = Γu * c~<t> + (1 - Γu) * c<t-1>, or with the update
    gate's role inverted (the misreading)."""
    H = state.h.shape[1]
    W_u, b_u = course_gate(p, 0, H)
    W_c, b_c = course_gate(p, 1, H)
    c_prev, c = state.h, []
    for i in range(len(x)):
        c_tilde = np.tanh(W_c @ np.concatenate([c_prev[i], x[i]]) + b_c)
        gamma_u = sigma(W_u @ np.concatenate([c_prev[i], x[i]]) + b_u)
        c.append(update(gamma_u, c_tilde, c_prev[i], inverted))
    c = np.stack(c)
    return c, (c,)


def _gru(p, x, state, candidate, inverted=False):
    """The full GRU (GATES = ("r", "z", "n")): Γr and Γu from their blocks, c~<t> from ``candidate(p, H,
    c<t-1>, x<t>, Γr)`` (where the variants differ), then the update."""
    H = state.h.shape[1]
    W_r, b_r = course_gate(p, 0, H)
    W_u, b_u = course_gate(p, 1, H)
    c_prev, c = state.h, []
    for i in range(len(x)):
        gamma_r = sigma(W_r @ np.concatenate([c_prev[i], x[i]]) + b_r)
        gamma_u = sigma(W_u @ np.concatenate([c_prev[i], x[i]]) + b_u)
        c.append(update(gamma_u, candidate(p, H, c_prev[i], x[i], gamma_r), c_prev[i], inverted))
    c = np.stack(c)
    return c, (c,)


def course_candidate(p, H, c_prev, x, gamma_r):
    """c~<t> = tanh(W_c [Γr * c<t-1>, x<t>] + b_c)."""
    W_c, b_c = course_gate(p, 2, H)
    return np.tanh(W_c @ np.concatenate([gamma_r * c_prev, x]) + b_c)


def n_block(p, name, H):
    """The candidate's (n) block of W_x or W_h, as a course matrix (transposed)."""
    return p[name][:, 2 * H:].T


def update(gamma_u, c_tilde, c_prev, inverted):
    """c<t> = Γu * c~<t> + (1 - Γu) * c<t-1>; inverted (PyTorch's convention, a misreading here) swaps them."""
    return gamma_u * c_prev + (1 - gamma_u) * c_tilde if inverted else gamma_u * c_tilde + (1 - gamma_u) * c_prev


def lstm_step(p, x, state):
    """The course's LSTM::

        c~<t> = tanh(W_c [a<t-1>, x<t>] + b_c)
        Γu    = σ(W_u [a<t-1>, x<t>] + b_u)
        Γf    = σ(W_f [a<t-1>, x<t>] + b_f)
        Γo    = σ(W_o [a<t-1>, x<t>] + b_o)
        c<t>  = Γu * c~<t> + Γf * c<t-1>
        a<t>  = Γo * tanh(c<t>)
    """
    return _lstm(p, x, state, u=0, f=1, c=2, o=3)  # GATES = ("i", "f", "g", "o"): i = Γu, g = c~


def _lstm(p, x, state, u, f, c, o):
    """The course's LSTM step with its gates read from fused blocks u, f, c, o."""
    H = state.h.shape[1]
    W_u, b_u = course_gate(p, u, H)
    W_f, b_f = course_gate(p, f, H)
    W_c, b_c = course_gate(p, c, H)
    W_o, b_o = course_gate(p, o, H)
    a_prev, c_prev = state
    a_out, c_out = [], []
    for i in range(len(x)):
        a_x = np.concatenate([a_prev[i], x[i]])
        c_tilde = np.tanh(W_c @ a_x + b_c)
        gamma_u = sigma(W_u @ a_x + b_u)
        gamma_f = sigma(W_f @ a_x + b_f)
        gamma_o = sigma(W_o @ a_x + b_o)
        c_out.append(gamma_u * c_tilde + gamma_f * c_prev[i])
        a_out.append(gamma_o * np.tanh(c_out[-1]))
    a_out, c_out = np.stack(a_out), np.stack(c_out)
    return a_out, (a_out, c_out)


def peephole_lstm_step(p, x, state):
    """The LSTM with peepholes (Gers & Schmidhuber 2000): diagonal weights p_i, p_f on c<t-1>
    and p_o on the new c<t>, elementwise::

        c~<t> = tanh(W_c [a<t-1>, x<t>] + b_c)
        Γu    = σ(W_u [a<t-1>, x<t>] + b_u + p_i * c<t-1>)
        Γf    = σ(W_f [a<t-1>, x<t>] + b_f + p_f * c<t-1>)
        c<t>  = Γu * c~<t> + Γf * c<t-1>
        Γo    = σ(W_o [a<t-1>, x<t>] + b_o + p_o * c<t>)
        a<t>  = Γo * tanh(c<t>)
    """
    return _peephole_lstm(p, x, state, output_sees_new_c=True)


def _peephole_lstm(p, x, state, output_sees_new_c):
    """The peephole LSTM step; the output gate looks at the new c<t> or (misread) at c<t-1>."""
    H = state.h.shape[1]
    W_u, b_u = course_gate(p, 0, H)
    W_f, b_f = course_gate(p, 1, H)
    W_c, b_c = course_gate(p, 2, H)
    W_o, b_o = course_gate(p, 3, H)
    p_i, p_f, p_o = p["p_i"], p["p_f"], p["p_o"]
    a_prev, c_prev = state
    a, c = [], []
    for i in range(len(x)):
        a_x = np.concatenate([a_prev[i], x[i]])
        c_tilde = np.tanh(W_c @ a_x + b_c)
        gamma_u = sigma(W_u @ a_x + b_u + p_i * c_prev[i])
        gamma_f = sigma(W_f @ a_x + b_f + p_f * c_prev[i])
        c.append(gamma_u * c_tilde + gamma_f * c_prev[i])
        gamma_o = sigma(W_o @ a_x + b_o + p_o * (c[-1] if output_sees_new_c else c_prev[i]))
        a.append(gamma_o * np.tanh(c[-1]))
    a, c = np.stack(a), np.stack(c)
    return a, (a, c)


# == deliberate misreadings: each must be rejected by check_reference ==============================

def rnn_tanh_step_W_h_as_W_aa(p, x, state):
    """Misreading: the code's (H, H) ``W_h`` taken for the course's W_aa itself instead of its
    transpose (the shapes still fit, the square matrix hides the mistake)::

        a<t> = tanh(W_h a<t-1> + W_ax x<t> + b_a)        wrong: W_aa = W_h^T
    """
    W_ax, b_a = p["W_x"].T, p["b"]
    a_prev = state.h
    a = np.stack([np.tanh(p["W_h"] @ a_prev[i] + W_ax @ x[i] + b_a) for i in range(len(x))])
    return a, (a,)


def rnn_relu_step_W_h_as_W_aa(p, x, state):
    """As ``rnn_tanh_step_W_h_as_W_aa``, with g = relu."""
    W_ax, b_a = p["W_x"].T, p["b"]
    a_prev = state.h
    a = np.stack([relu(p["W_h"] @ a_prev[i] + W_ax @ x[i] + b_a) for i in range(len(x))])
    return a, (a,)


def gru_simple_step_update_inverted(p, x, state):
    """Misreading: the update gate's role inverted, as PyTorch writes its GRU
    (h = (1 - z) * n + z * h_prev)::

        c<t> = Γu * c<t-1> + (1 - Γu) * c~<t>            wrong: the course keeps c<t-1> with 1 - Γu
    """
    return _gru_simple(p, x, state, inverted=True)


def gru_step_update_inverted(p, x, state):
    """Misreading: the full GRU with the update gate's role inverted (PyTorch's convention)::

        c<t> = Γu * c<t-1> + (1 - Γu) * c~<t>            wrong
    """
    return _gru(p, x, state, course_candidate, inverted=True)


def gru_step_reset_after_product(p, x, state):
    """Misreading: the course's GRU with Γr applied to the recurrent product (the cuDNN form's
    placement, without its b_hn) instead of to c<t-1> inside it::

        c~<t> = tanh(W_xc x<t> + Γr * (W_hc c<t-1>) + b_c)     wrong: W_c [Γr * c<t-1>, x<t>] + b_c
    """
    return _gru(p, x, state, lambda p, H, c_prev, x, gamma_r: np.tanh(
        n_block(p, 'W_x', H) @ x + gamma_r * (n_block(p, 'W_h', H) @ c_prev) + p['b'][2 * H:]))


def gru_reset_after_step_b_hn_outside(p, x, state):
    """Misreading: the reset-after GRU with b_hn added outside Γr's product, as if it were one
    more input-side bias::

        c~<t> = tanh(W_xc x<t> + b_c + b_hn + Γr * (W_hc c<t-1>))   wrong: Γr * (W_hc c<t-1> + b_hn)
    """
    return _gru(p, x, state, lambda p, H, c_prev, x, gamma_r: np.tanh(
        n_block(p, 'W_x', H) @ x + p['b'][2 * H:] + p['b_hn'] + gamma_r * (n_block(p, 'W_h', H) @ c_prev)))


def lstm_step_blocks_in_equation_order(p, x, state):
    """Misreading: the fused blocks read in the order the course lists the equations
    (c~, Γu, Γf, Γo) instead of the code's GATES = ("i", "f", "g", "o")."""
    return _lstm(p, x, state, c=0, u=1, f=2, o=3)  # wrong: block 0 is i = Γu, not c~


def peephole_lstm_step_output_peeks_at_c_prev(p, x, state):
    """Misreading: all three peepholes on c<t-1>, the output gate's too::

        Γo = σ(W_o [a<t-1>, x<t>] + b_o + p_o * c<t-1>)        wrong: p_o * c<t>
    """
    return _peephole_lstm(p, x, state, output_sees_new_c=False)
