"""The acceptance criterion of the course layout: a float64 network built from course-layout weights
reproduces the course's own equations, forward and backward, to 1e-12.

The first half of this file is a literal NumPy transcription of the course (Deep Learning
Specialization, Sequence Models, "Building your Recurrent Neural Network - Step by Step"): column
vectors, a batch of m examples as (n, m) columns, x (n_x, m, T_x), a0 (n_a, m), caches, da_next and
dc_next, ``dWf += dft @ concat.T``; σ is the textbook 1 / (1 + e^-z). ``rnn_cell_*`` and
``lstm_cell_*`` follow the exercise; the GRUs (simplified, Cho, reset-after) and the peephole LSTM are
derived in the same notation. Nothing in it comes from seqfw.

The loss is L = Σ_t Σ <G<t>, a<t>> with a random G, so dL/da<t> = G<t> is the course's ``da``. The
second half runs seqfw's 1-layer unidirectional network built with ``from_course`` and compares a,
the final c, and dW, db (through ``to_course``), dx, da0 and dc0.
"""
import numpy as np
import pytest

n_x, n_a, m, T_x = 3, 5, 4, 6


# == the course, transcribed =========================================================================
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# -- basic RNN: a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a), with W_a = [W_aa | W_ax] -----------------------
def rnn_cell_forward(xt, a_prev, parameters, g="tanh"):
    Wa, ba = parameters["Wa"], parameters["ba"]
    Waa, Wax = Wa[:, :n_a], Wa[:, n_a:]
    z = np.dot(Wax, xt) + np.dot(Waa, a_prev) + ba
    a_next = np.tanh(z) if g == "tanh" else np.maximum(z, 0)
    cache = (a_next, a_prev, xt, parameters, g)
    return a_next, cache


def rnn_forward(x, a0, parameters, g="tanh"):
    caches = []
    n_x, m, T_x = x.shape
    a = np.zeros((n_a, m, T_x))
    a_next = a0
    for t in range(T_x):
        a_next, cache = rnn_cell_forward(x[:, :, t], a_next, parameters, g)
        a[:, :, t] = a_next
        caches.append(cache)
    return a, (caches, x)


def rnn_cell_backward(da_next, cache):
    (a_next, a_prev, xt, parameters, g) = cache
    Wa = parameters["Wa"]
    Waa, Wax = Wa[:, :n_a], Wa[:, n_a:]
    dz = (1 - a_next ** 2) * da_next if g == "tanh" else (a_next > 0) * da_next  # dtanh in the exercise
    dxt = np.dot(Wax.T, dz)
    dWax = np.dot(dz, xt.T)
    da_prev = np.dot(Waa.T, dz)
    dWaa = np.dot(dz, a_prev.T)
    dba = np.sum(dz, axis=1, keepdims=True)
    return {"dxt": dxt, "da_prev": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def rnn_backward(da, caches):
    (caches, x) = caches
    (a1, a0, x1, parameters, g) = caches[0]
    n_a, m, T_x = da.shape
    n_x, m = x1.shape
    dx = np.zeros((n_x, m, T_x))
    dWax = np.zeros((n_a, n_x))
    dWaa = np.zeros((n_a, n_a))
    dba = np.zeros((n_a, 1))
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        gradients = rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])
        dxt, da_prevt, dWaxt, dWaat, dbat = (gradients["dxt"], gradients["da_prev"], gradients["dWax"],
                                             gradients["dWaa"], gradients["dba"])
        dx[:, :, t] = dxt
        dWax += dWaxt
        dWaa += dWaat
        dba += dbat
    da0 = da_prevt
    return {"dx": dx, "da0": da0, "dWa": np.concatenate([dWaa, dWax], axis=1), "dba": dba}


# -- LSTM: Γf, Γi (update), c~, Γo on concat = [a<t-1>; x<t>] ---------------------------------------------
def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    Wf, bf, Wi, bi = parameters["Wf"], parameters["bf"], parameters["Wi"], parameters["bi"]
    Wc, bc, Wo, bo = parameters["Wc"], parameters["bc"], parameters["Wo"], parameters["bo"]
    concat = np.concatenate((a_prev, xt), axis=0)
    ft = sigmoid(np.dot(Wf, concat) + bf)
    it = sigmoid(np.dot(Wi, concat) + bi)
    cct = np.tanh(np.dot(Wc, concat) + bc)
    c_next = ft * c_prev + it * cct
    ot = sigmoid(np.dot(Wo, concat) + bo)
    a_next = ot * np.tanh(c_next)
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, cache


def lstm_forward(x, a0, c0, parameters, cell_forward=lstm_cell_forward):
    caches = []
    n_x, m, T_x = x.shape
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    a_next, c_next = a0, c0
    for t in range(T_x):
        a_next, c_next, cache = cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        caches.append(cache)
    return a, c, (caches, x)


def lstm_cell_backward(da_next, dc_next, cache):
    (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) = cache
    n_a, m = a_next.shape
    dot = da_next * np.tanh(c_next) * ot * (1 - ot)
    dcct = (dc_next * it + ot * (1 - np.square(np.tanh(c_next))) * it * da_next) * (1 - np.square(cct))
    dit = (dc_next * cct + ot * (1 - np.square(np.tanh(c_next))) * cct * da_next) * it * (1 - it)
    dft = (dc_next * c_prev + ot * (1 - np.square(np.tanh(c_next))) * c_prev * da_next) * ft * (1 - ft)
    concat = np.concatenate((a_prev, xt), axis=0)
    dWf = np.dot(dft, concat.T)
    dWi = np.dot(dit, concat.T)
    dWc = np.dot(dcct, concat.T)
    dWo = np.dot(dot, concat.T)
    dbf = np.sum(dft, axis=1, keepdims=True)
    dbi = np.sum(dit, axis=1, keepdims=True)
    dbc = np.sum(dcct, axis=1, keepdims=True)
    dbo = np.sum(dot, axis=1, keepdims=True)
    Wf, Wi, Wc, Wo = parameters["Wf"], parameters["Wi"], parameters["Wc"], parameters["Wo"]
    da_prev = (np.dot(Wf[:, :n_a].T, dft) + np.dot(Wi[:, :n_a].T, dit) + np.dot(Wc[:, :n_a].T, dcct)
               + np.dot(Wo[:, :n_a].T, dot))
    dc_prev = dc_next * ft + ot * (1 - np.square(np.tanh(c_next))) * ft * da_next
    dxt = (np.dot(Wf[:, n_a:].T, dft) + np.dot(Wi[:, n_a:].T, dit) + np.dot(Wc[:, n_a:].T, dcct)
           + np.dot(Wo[:, n_a:].T, dot))
    return {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev, "dWf": dWf, "dbf": dbf, "dWi": dWi, "dbi": dbi,
            "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}


def lstm_backward(da, caches, cell_backward=lstm_cell_backward):
    (caches, x) = caches
    (a1, c1, a0, c0, f1, i1, cc1, o1, x1, parameters) = caches[0][:10]
    n_a, m, T_x = da.shape
    n_x, m = x1.shape
    dx = np.zeros((n_x, m, T_x))
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    totals = {}
    for t in reversed(range(T_x)):
        gradients = cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])
        da_prevt, dc_prevt = gradients["da_prev"], gradients["dc_prev"]
        dx[:, :, t] = gradients["dxt"]
        for name, value in gradients.items():  # dWf += dWft, dbf += dbft, ...
            if name not in ("dxt", "da_prev", "dc_prev"):
                totals[name] = totals.get(name, 0) + value
    return {"dx": dx, "da0": da_prevt, "dc0": dc_prevt, **totals}


# -- LSTM with peepholes: Γi, Γf also see c<t-1>, Γo sees c<t> (diagonal pi, pf, po (n_a, 1)) -------------
def peephole_lstm_cell_forward(xt, a_prev, c_prev, parameters):
    Wf, bf, Wi, bi = parameters["Wf"], parameters["bf"], parameters["Wi"], parameters["bi"]
    Wc, bc, Wo, bo = parameters["Wc"], parameters["bc"], parameters["Wo"], parameters["bo"]
    pf, pi, po = parameters["pf"], parameters["pi"], parameters["po"]
    concat = np.concatenate((a_prev, xt), axis=0)
    ft = sigmoid(np.dot(Wf, concat) + bf + pf * c_prev)
    it = sigmoid(np.dot(Wi, concat) + bi + pi * c_prev)
    cct = np.tanh(np.dot(Wc, concat) + bc)
    c_next = ft * c_prev + it * cct
    ot = sigmoid(np.dot(Wo, concat) + bo + po * c_next)
    a_next = ot * np.tanh(c_next)
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, cache


def peephole_lstm_cell_backward(da_next, dc_next, cache):
    (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) = cache
    n_a, m = a_next.shape
    pf, pi, po = parameters["pf"], parameters["pi"], parameters["po"]
    dot = da_next * np.tanh(c_next) * ot * (1 - ot)
    dc = dc_next + ot * (1 - np.square(np.tanh(c_next))) * da_next + dot * po  # all of dL/dc<t>
    dcct = dc * it * (1 - np.square(cct))
    dit = dc * cct * it * (1 - it)
    dft = dc * c_prev * ft * (1 - ft)
    concat = np.concatenate((a_prev, xt), axis=0)
    Wf, Wi, Wc, Wo = parameters["Wf"], parameters["Wi"], parameters["Wc"], parameters["Wo"]
    da_prev = (np.dot(Wf[:, :n_a].T, dft) + np.dot(Wi[:, :n_a].T, dit) + np.dot(Wc[:, :n_a].T, dcct)
               + np.dot(Wo[:, :n_a].T, dot))
    dc_prev = dc * ft + dit * pi + dft * pf
    dxt = (np.dot(Wf[:, n_a:].T, dft) + np.dot(Wi[:, n_a:].T, dit) + np.dot(Wc[:, n_a:].T, dcct)
           + np.dot(Wo[:, n_a:].T, dot))
    return {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev,
            "dWf": np.dot(dft, concat.T), "dbf": np.sum(dft, axis=1, keepdims=True),
            "dWi": np.dot(dit, concat.T), "dbi": np.sum(dit, axis=1, keepdims=True),
            "dWc": np.dot(dcct, concat.T), "dbc": np.sum(dcct, axis=1, keepdims=True),
            "dWo": np.dot(dot, concat.T), "dbo": np.sum(dot, axis=1, keepdims=True),
            "dpf": np.sum(dft * c_prev, axis=1, keepdims=True), "dpi": np.sum(dit * c_prev, axis=1, keepdims=True),
            "dpo": np.sum(dot * c_next, axis=1, keepdims=True)}


# -- GRUs: the memory c<t> is the output a<t> -------------------------------------------------------------
def gru_simple_cell_forward(xt, c_prev, parameters):
    """c~ = tanh(Wc [c<t-1>; x<t>] + bc), Γu = σ(Wu [c<t-1>; x<t>] + bu), c<t> = Γu c~ + (1 - Γu) c<t-1>."""
    Wu, bu, Wc, bc = parameters["Wu"], parameters["bu"], parameters["Wc"], parameters["bc"]
    concat = np.concatenate((c_prev, xt), axis=0)
    cct = np.tanh(np.dot(Wc, concat) + bc)
    ut = sigmoid(np.dot(Wu, concat) + bu)
    c_next = ut * cct + (1 - ut) * c_prev
    return c_next, (c_next, c_prev, ut, cct, xt, parameters)


def gru_simple_cell_backward(dc_next, cache):
    (c_next, c_prev, ut, cct, xt, parameters) = cache
    Wu, Wc = parameters["Wu"], parameters["Wc"]
    dcct = dc_next * ut * (1 - np.square(cct))
    dut = dc_next * (cct - c_prev) * ut * (1 - ut)
    concat = np.concatenate((c_prev, xt), axis=0)
    dc_prev = dc_next * (1 - ut) + np.dot(Wc[:, :n_a].T, dcct) + np.dot(Wu[:, :n_a].T, dut)
    dxt = np.dot(Wc[:, n_a:].T, dcct) + np.dot(Wu[:, n_a:].T, dut)
    return {"dxt": dxt, "da_prev": dc_prev,
            "dWu": np.dot(dut, concat.T), "dbu": np.sum(dut, axis=1, keepdims=True),
            "dWc": np.dot(dcct, concat.T), "dbc": np.sum(dcct, axis=1, keepdims=True)}


def gru_cell_forward(xt, c_prev, parameters):
    """The course's full GRU (Cho et al.): Γr = σ(Wr [c<t-1>; x<t>] + br), Γu likewise,
    c~ = tanh(Wc [Γr * c<t-1>; x<t>] + bc), c<t> = Γu c~ + (1 - Γu) c<t-1>."""
    Wr, br, Wu, bu = parameters["Wr"], parameters["br"], parameters["Wu"], parameters["bu"]
    Wc, bc = parameters["Wc"], parameters["bc"]
    concat = np.concatenate((c_prev, xt), axis=0)
    rt = sigmoid(np.dot(Wr, concat) + br)
    ut = sigmoid(np.dot(Wu, concat) + bu)
    concat_r = np.concatenate((rt * c_prev, xt), axis=0)
    cct = np.tanh(np.dot(Wc, concat_r) + bc)
    c_next = ut * cct + (1 - ut) * c_prev
    return c_next, (c_next, c_prev, rt, ut, cct, concat_r, xt, parameters)


def gru_cell_backward(dc_next, cache):
    (c_next, c_prev, rt, ut, cct, concat_r, xt, parameters) = cache
    Wr, Wu, Wc = parameters["Wr"], parameters["Wu"], parameters["Wc"]
    dcct = dc_next * ut * (1 - np.square(cct))
    dut = dc_next * (cct - c_prev) * ut * (1 - ut)
    drc = np.dot(Wc[:, :n_a].T, dcct)  # dL/d(Γr * c<t-1>)
    drt = drc * c_prev * rt * (1 - rt)
    concat = np.concatenate((c_prev, xt), axis=0)
    dc_prev = dc_next * (1 - ut) + drc * rt + np.dot(Wr[:, :n_a].T, drt) + np.dot(Wu[:, :n_a].T, dut)
    dxt = np.dot(Wc[:, n_a:].T, dcct) + np.dot(Wr[:, n_a:].T, drt) + np.dot(Wu[:, n_a:].T, dut)
    return {"dxt": dxt, "da_prev": dc_prev,
            "dWr": np.dot(drt, concat.T), "dbr": np.sum(drt, axis=1, keepdims=True),
            "dWu": np.dot(dut, concat.T), "dbu": np.sum(dut, axis=1, keepdims=True),
            "dWc": np.dot(dcct, concat_r.T), "dbc": np.sum(dcct, axis=1, keepdims=True)}


def gru_reset_after_cell_forward(xt, c_prev, parameters):
    """The reset-after form (not in the course): hc = Wc[:, :n_a] c<t-1> + bhc, then
    c~ = tanh(Wc[:, n_a:] x<t> + bc + Γr * hc)."""
    Wr, br, Wu, bu = parameters["Wr"], parameters["br"], parameters["Wu"], parameters["bu"]
    Wc, bc, bhc = parameters["Wc"], parameters["bc"], parameters["bhc"]
    concat = np.concatenate((c_prev, xt), axis=0)
    rt = sigmoid(np.dot(Wr, concat) + br)
    ut = sigmoid(np.dot(Wu, concat) + bu)
    hc = np.dot(Wc[:, :n_a], c_prev) + bhc
    cct = np.tanh(np.dot(Wc[:, n_a:], xt) + bc + rt * hc)
    c_next = ut * cct + (1 - ut) * c_prev
    return c_next, (c_next, c_prev, rt, ut, cct, hc, xt, parameters)


def gru_reset_after_cell_backward(dc_next, cache):
    (c_next, c_prev, rt, ut, cct, hc, xt, parameters) = cache
    Wr, Wu, Wc = parameters["Wr"], parameters["Wu"], parameters["Wc"]
    dcct = dc_next * ut * (1 - np.square(cct))
    dut = dc_next * (cct - c_prev) * ut * (1 - ut)
    drt = dcct * hc * rt * (1 - rt)
    dhc = dcct * rt
    concat = np.concatenate((c_prev, xt), axis=0)
    dc_prev = dc_next * (1 - ut) + np.dot(Wc[:, :n_a].T, dhc) + np.dot(Wr[:, :n_a].T, drt) + np.dot(Wu[:, :n_a].T, dut)
    dxt = np.dot(Wc[:, n_a:].T, dcct) + np.dot(Wr[:, n_a:].T, drt) + np.dot(Wu[:, n_a:].T, dut)
    return {"dxt": dxt, "da_prev": dc_prev,
            "dWr": np.dot(drt, concat.T), "dbr": np.sum(drt, axis=1, keepdims=True),
            "dWu": np.dot(dut, concat.T), "dbu": np.sum(dut, axis=1, keepdims=True),
            "dWc": np.concatenate((np.dot(dhc, c_prev.T), np.dot(dcct, xt.T)), axis=1),
            "dbc": np.sum(dcct, axis=1, keepdims=True), "dbhc": np.sum(dhc, axis=1, keepdims=True)}


def gru_forward(x, a0, parameters, cell_forward):
    """As ``rnn_forward``, with a GRU step."""
    caches = []
    n_x, m, T_x = x.shape
    a = np.zeros((n_a, m, T_x))
    a_next = a0
    for t in range(T_x):
        a_next, cache = cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        caches.append(cache)
    return a, (caches, x)


def gru_backward(da, caches, cell_backward):
    """As ``rnn_backward``: the memory is the output, so one gradient flows back through time."""
    (caches, x) = caches
    n_a, m, T_x = da.shape
    dx = np.zeros((x.shape[0], m, T_x))
    da_prevt = np.zeros((n_a, m))
    totals = {}
    for t in reversed(range(T_x)):
        gradients = cell_backward(da[:, :, t] + da_prevt, caches[t])
        da_prevt = gradients["da_prev"]
        dx[:, :, t] = gradients["dxt"]
        for name, value in gradients.items():
            if name not in ("dxt", "da_prev"):
                totals[name] = totals.get(name, 0) + value
    return {"dx": dx, "da0": da_prevt, **totals}


# == the course's runs ==================================================================================
def course_rnn(g):
    def run(x, a0, c0, parameters, da):
        a, caches = rnn_forward(x, a0, parameters, g)
        return a, None, rnn_backward(da, caches)
    return run


def course_lstm(cell_forward, cell_backward):
    def run(x, a0, c0, parameters, da):
        a, c, caches = lstm_forward(x, a0, c0, parameters, cell_forward)
        return a, c[:, :, -1], lstm_backward(da, caches, cell_backward)
    return run


def course_gru(cell_forward, cell_backward):
    def run(x, a0, c0, parameters, da):
        a, caches = gru_forward(x, a0, parameters, cell_forward)
        return a, None, gru_backward(da, caches, cell_backward)
    return run


# name -> (seqfw cell, options, course names of the parameters, the course's run)
CASES = {
    "rnn_tanh": ("rnn", {"nonlinearity": "tanh"}, ["Wa", "ba"], course_rnn("tanh")),
    "rnn_relu": ("rnn", {"nonlinearity": "relu"}, ["Wa", "ba"], course_rnn("relu")),
    "gru_simple": ("gru_simple", {}, ["Wu", "bu", "Wc", "bc"],
                   course_gru(gru_simple_cell_forward, gru_simple_cell_backward)),
    "gru_cho": ("gru", {"reset_after": False}, ["Wr", "br", "Wu", "bu", "Wc", "bc"],
                course_gru(gru_cell_forward, gru_cell_backward)),
    "gru_reset_after": ("gru", {"reset_after": True}, ["Wr", "br", "Wu", "bu", "Wc", "bc", "bhc"],
                        course_gru(gru_reset_after_cell_forward, gru_reset_after_cell_backward)),
    "lstm": ("lstm", {"peephole": False}, ["Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo"],
             course_lstm(lstm_cell_forward, lstm_cell_backward)),
    "lstm_peephole": ("lstm", {"peephole": True}, ["Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "pf", "pi", "po"],
                      course_lstm(peephole_lstm_cell_forward, peephole_lstm_cell_backward)),
}


def course_problem(names, seed):
    """Random course-layout weights (W (n_a, n_a + n_x), b and vectors (n_a, 1)), x, a0, c0 and G."""
    rng = np.random.default_rng(seed)
    parameters = {n: 0.6 * rng.standard_normal((n_a, n_a + n_x) if n[0] == "W" else (n_a, 1)) for n in names}
    x = rng.standard_normal((n_x, m, T_x))
    a0, c0 = 0.5 * rng.standard_normal((n_a, m)), 0.5 * rng.standard_normal((n_a, m))
    da = rng.standard_normal((n_a, m, T_x))  # G: L = Σ_t Σ <G<t>, a<t>>
    return parameters, x, a0, c0, da


# == seqfw against it ===================================================================================
import seqfw  # noqa: E402
from seqfw.engine.layouts import course_inputs, course_outputs, from_course, to_course  # noqa: E402

F64 = seqfw.get_backend("numpy", dtype="float64")
TOL = 1e-12


def seqfw_run(name, parameters, x, a0, c0, da):
    """seqfw's 1-layer network from the course's weights: (a, final c or None, gradients in the course's names)."""
    cell_name, options, _, _ = CASES[name]
    net = seqfw.recurrent(cell_name, n_x, n_a, **options)
    params = from_course(net, {f"layers.0.fwd.{k}": v for k, v in parameters.items()}, F64)
    cell = net.layers[0].cells["fwd"]
    lstm = cell.state_type._fields == ("h", "c")
    state0 = [{"fwd": cell.state_type(a0.T.copy(), c0.T.copy()) if lstm else cell.state_type(a0.T.copy())}]
    y, finals, cache = net.forward(params, course_inputs(x), None, state0)
    dx, dstate0, grads, _ = net.backward(params, course_inputs(da), None, cache)
    flat = {k.removeprefix("layers.0.fwd."): v for k, v in to_course(net, grads).items()}
    out = {"d" + k: v for k, v in flat.items()}
    out.update(dx=course_outputs(dx), da0=dstate0[0]["fwd"].h.T)
    if lstm:
        out["dc0"] = dstate0[0]["fwd"].c.T
    return course_outputs(y), (finals[0]["fwd"].c.T if lstm else None), out


def assert_close(ours, course, what):
    assert ours.shape == course.shape, f"{what}: shape {ours.shape}, the course's {course.shape}"
    err = np.abs(ours - course).max()
    assert err <= TOL * max(1.0, np.abs(course).max()), f"{what}: max difference {err:.3e}"


@pytest.mark.parametrize("name", list(CASES))
def test_course_layout_reproduces_the_course_forward_and_backward(name):
    _, _, names, course = CASES[name]
    parameters, x, a0, c0, da = course_problem(names, seed=sorted(CASES).index(name))
    a_course, c_course, grads_course = course(x, a0, c0, parameters, da)
    a, c, grads = seqfw_run(name, parameters, x, a0, c0, da)

    assert_close(a, a_course, "a (n_a, m, T_x)")
    if c_course is not None:
        assert_close(c, c_course, "c<T_x>")
    expected = {"dx", "da0", *("d" + n for n in names)} | ({"dc0"} if c_course is not None else set())
    assert set(grads_course) == expected and set(grads) == expected
    for key in sorted(expected):
        assert np.abs(grads_course[key]).max() > 1e-3, f"{key}: the course's gradient is ~0, the test proves nothing"
        assert_close(grads[key], grads_course[key], key)


@pytest.mark.parametrize("name", ["rnn_tanh", "gru_cho", "lstm_peephole"])
def test_the_comparison_is_sharp(name):
    """A misread layout (two course matrices swapped, or a's and x's columns swapped) is caught."""
    _, _, names, course = CASES[name]
    parameters, x, a0, c0, da = course_problem(names, seed=11)
    a_course, _, _ = course(x, a0, c0, parameters, da)
    W = [n for n in names if n[0] == "W"]
    if len(W) > 1:
        swapped = {**parameters, W[0]: parameters[W[1]], W[1]: parameters[W[0]]}
    else:
        Wa = parameters[W[0]]
        swapped = {**parameters, W[0]: np.concatenate([Wa[:, n_a:], Wa[:, :n_a]], axis=1)}  # [W_ax | W_aa]
    a, _, _ = seqfw_run(name, swapped, x, a0, c0, da)
    assert np.abs(a - a_course).max() > 1e-2
