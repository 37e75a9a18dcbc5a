"""``task=dna`` and the HMM behind it: forward–backward and filtering against brute-force enumeration of
every state path, a log-space reference on a long sequence, sampling against the model's own statistics,
the task's Bayes bounds, and what it refuses."""
import ast
import itertools
from pathlib import Path

import numpy as np
import pytest

from seqfw.engine.errors import SettingError
from seqfw.plugins.registry import make_task, recurrent
from seqfw.tasks.data import DataError
from seqfw.tasks.dna import DNAConfig
from seqfw.tasks.hmm import HMM, HMMError
from tests.helpers.cli import seqfw

TINY = dict(num_train=4, num_val=3, length=12)


def random_hmm(rng, K, M=4) -> HMM:
    return HMM(rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K), rng.dirichlet(np.ones(M), size=K))


def joint(hmm: HMM, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every state path (P, T) of sequences x (B, T) and P(z, x) for each (B, P), by enumeration."""
    B, T = x.shape
    paths = np.array(list(itertools.product(range(hmm.num_states), repeat=T)))
    p = hmm.start[paths[:, 0]][None, :] * hmm.emission[paths[:, 0][None, :], x[:, :1]]
    for t in range(1, T):
        p = p * hmm.transition[paths[:, t - 1], paths[:, t]][None, :] * hmm.emission[paths[:, t][None, :], x[:, t:t + 1]]
    return paths, p


def brute_posteriors(hmm: HMM, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, T, K) P(z_t | x_1..x_T) and (B,) log P(x) from the joint of every path."""
    paths, p = joint(hmm, x)
    onehot = paths[:, :, None] == np.arange(hmm.num_states)  # (P, T, K)
    total = p.sum(axis=1)
    return np.einsum("bp,ptk->btk", p, onehot) / total[:, None, None], np.log(total)


def brute_filtered(hmm: HMM, x: np.ndarray) -> np.ndarray:
    """(B, T, K) P(z_t | x_1..x_t): the last step's posterior over every path of the prefix."""
    return np.stack([brute_posteriors(hmm, x[:, : t + 1])[0][:, t] for t in range(x.shape[1])], axis=1)


@pytest.mark.parametrize("K", [2, 3])
def test_forward_backward_and_filtering_equal_brute_force_enumeration(K):
    rng = np.random.default_rng(K)
    for T in range(1, 9):
        for _ in range(3):
            hmm = random_hmm(rng, K)
            x = rng.integers(0, 4, size=(5, T))
            gamma, loglik = hmm.posteriors(x)
            want_gamma, want_loglik = brute_posteriors(hmm, x)
            np.testing.assert_allclose(gamma, want_gamma, rtol=0, atol=1e-12)
            np.testing.assert_allclose(loglik, want_loglik, rtol=0, atol=1e-12)
            np.testing.assert_allclose(hmm.filtered(x), brute_filtered(hmm, x), rtol=0, atol=1e-12)
            one, one_ll = hmm.posteriors(x[2])  # a single sequence: (T, K) and a float, the same numbers
            assert one.shape == (T, K) and isinstance(one_ll, float)
            np.testing.assert_allclose(one, gamma[2], rtol=0, atol=1e-15)
            np.testing.assert_allclose(hmm.filtered(x[2]), hmm.filtered(x)[2], rtol=0, atol=1e-15)


def log_space(hmm: HMM, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Reference forward–backward in log space for one sequence: (posteriors, filtered, log P(x)).

    In extended precision: log α reaches thousands, and float64's rounding of numbers that size, summed
    over the sequence, would be the error measured rather than that of the scaled recursion."""
    with np.errstate(divide="ignore"):
        la, lA, lB = (np.log(np.asarray(p, dtype=np.longdouble)) for p in (hmm.start, hmm.transition, hmm.emission))
    T, K = len(x), hmm.num_states
    alpha, beta = np.empty((T, K), dtype=np.longdouble), np.zeros((T, K), dtype=np.longdouble)

    def lse(a, axis):
        m = a.max(axis=axis, keepdims=True)
        return np.squeeze(m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True)), axis=axis)

    alpha[0] = la + lB[:, x[0]]
    for t in range(1, T):
        alpha[t] = lse(alpha[t - 1][:, None] + lA, axis=0) + lB[:, x[t]]
    for t in range(T - 2, -1, -1):
        beta[t] = lse(lA + (lB[:, x[t + 1]] + beta[t + 1])[None, :], axis=1)
    loglik = lse(alpha[-1], axis=0)
    post = alpha + beta - loglik
    filt = alpha - lse(alpha, axis=1)[:, None]
    return np.exp(post).astype(float), np.exp(filt).astype(float), float(loglik)


def test_scaling_keeps_a_long_sequence_with_a_near_zero_transition_finite():
    hmm = HMM([0.5, 0.3, 0.2], [[1 - 1e-300, 1e-300, 0.0], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]],
              [[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    x = np.random.default_rng(0).integers(0, 4, size=5000)
    gamma, loglik = hmm.posteriors(x)
    filt = hmm.filtered(x)
    assert np.all(np.isfinite(gamma)) and np.all(np.isfinite(filt)) and np.isfinite(loglik)
    assert loglik < -8000  # P(x) itself underflows a float (e^-8000): only the scaled recursion can hold it
    want_gamma, want_filt, want_loglik = log_space(hmm, x)
    np.testing.assert_allclose(gamma, want_gamma, rtol=0, atol=1e-12)
    np.testing.assert_allclose(filt, want_filt, rtol=0, atol=1e-12)
    assert loglik == pytest.approx(want_loglik, rel=1e-12)


def test_sampled_data_follows_the_hmm():
    task = make_task("dna", num_train=1, num_val=1, length=1)
    hmm = task.hmm
    np.testing.assert_allclose(hmm.stationary(), [0.6, 0.4], atol=1e-12)  # the default start is stationary
    z, x = hmm.sample(np.random.default_rng(1), 2000, count=100)  # 200,000 bases
    occupancy = np.bincount(z.ravel(), minlength=2) / z.size
    np.testing.assert_allclose(occupancy, hmm.stationary(), atol=0.03)  # ~4 sigma: regions are ~40 bases
    for k in range(2):
        freq = np.bincount(x[z == k], minlength=4) / np.sum(z == k)
        np.testing.assert_allclose(freq, hmm.emission[k], atol=0.01)
        moves = np.bincount(z[:, 1:][z[:, :-1] == k], minlength=2) / np.sum(z[:, :-1] == k)
        np.testing.assert_allclose(moves, hmm.transition[k], atol=0.004)
    starts, _ = hmm.sample(np.random.default_rng(2), 3, count=4000)
    assert starts.shape == (4000, 3)
    np.testing.assert_allclose(np.bincount(starts[:, 0], minlength=2) / 4000, hmm.start, atol=0.03)
    # a zero-probability state or base is never drawn
    sure = HMM([1.0, 0.0], [[0.0, 1.0], [1.0, 0.0]], [[0.0, 0.0, 1.0, 0.0], [0.5, 0.0, 0.0, 0.5]])
    z, x = sure.sample(np.random.default_rng(3), 1000)
    assert np.array_equal(z, np.arange(1000) % 2) and set(x[z == 0]) == {2} and set(x[z == 1]) == {0, 3}


def test_the_task_bayes_accuracy_is_brute_force_posterior_decoding():
    hmm = {"states": ["sea", "shore", "isle"], "inside": ["shore", "isle"], "start": [0.5, 0.25, 0.25],
           "transition": [[0.8, 0.15, 0.05], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]],
           "emission": [[0.4, 0.1, 0.1, 0.4], [0.25, 0.25, 0.25, 0.25], [0.1, 0.4, 0.4, 0.1]]}
    task = make_task("dna", num_train=2, num_val=40, length=7, hmm=hmm)
    x, labels = task.val_bases, task.val_labels
    inside = np.array([False, True, True])
    gamma, _ = brute_posteriors(task.hmm, x)
    bayes = (gamma[..., inside].sum(-1) > 0.5).astype(int)
    causal = (brute_filtered(task.hmm, x)[..., inside].sum(-1) > 0.5).astype(int)
    assert task.bayes_accuracy == np.mean(bayes == labels)
    assert task.causal_bayes_accuracy == np.mean(causal == labels)
    assert 0 < task.causal_bayes_accuracy < task.bayes_accuracy < 1  # the numbers say something here
    assert np.array_equal(labels, inside[task.val_states])  # a label is whether its state is named inside


def test_default_data_bounds_uni_below_bidirectional_and_majority_far_below():
    task = make_task("dna")
    assert task.val_bases.shape == (200, 500)
    assert 0.85 <= task.bayes_accuracy <= 0.93
    assert task.bayes_accuracy - task.causal_bayes_accuracy > 0.06  # measured 0.892 - 0.827 = 0.065
    assert task.causal_bayes_accuracy - task.majority_share > 0.2  # measured 0.827 - 0.599
    # the validation set (and so its bounds) does not move with the size of the training set
    other = make_task("dna", num_train=3)
    assert np.array_equal(other.val_bases, task.val_bases) and other.bayes_accuracy == task.bayes_accuracy


@pytest.fixture(scope="module")
def tiny():
    task = make_task("dna", **TINY)
    model = task.build_model(recurrent("lstm", task.input_size, 4, bidirectional=True), "many_to_many")
    return task, model, model.init_params(np.random.default_rng(0), np, np.float64)


def test_evaluate_reports_the_gap_and_samples_align(tiny):
    task, model, params = tiny
    m = task.evaluate(model, params, np)
    assert set(m) == set(task.info.metrics)
    assert m["val/gap_to_bayes"] == pytest.approx(m["val/bayes_accuracy"] - m["val/accuracy"], abs=1e-15)
    text = task.samples(model, params, np)
    blocks = text.strip().split("\n\n")[1:]
    assert len(blocks) == TINY["num_val"]
    for block in blocks:
        lines = block.splitlines()
        assert [line.split()[0] for line in lines[1:]] == ["bases", "truth", "network", "Bayes", "causal"]
        rows = [line.split()[1] for line in lines[1:]]
        assert {len(r) for r in rows} == {12} and set(rows[0]) <= set("ACGT") and set("".join(rows[1:])) <= set(".I")
        truth, bayes = rows[1], rows[3]
        shown = lines[4].split()[2]  # the Bayes line's accuracy over the stretch
        assert shown == f"{np.mean([a == b for a, b in zip(truth, bayes)]):.0%}"


def test_predict_texts_labels_each_base_and_refuses_anything_else(tiny):
    task, model, params = tiny
    out = task.predict_texts(model, params, np, ["ACGTTGCA", "gcgc", ""], None)
    assert [len(s) for s in out] == [8, 4, 0] and set("".join(out)) <= {".", "I"}
    with pytest.raises(DataError, match=r"only the bases A, C, G, T .* text 1 has 'N' at position 3"):
        task.predict_texts(model, params, np, ["ACGT", "ACNGT"], None)
    with pytest.raises(DataError, match=r"text 0 has '\\ud800' at position 2"):  # not a UnicodeEncodeError
        task.predict_texts(model, params, np, ["A\ud800"], None)


BAD = [
    ({"hmm": {"transition": [[0.9, 0.05], [0.03, 0.97]]}},
     "hmm.transition must sum to 1 in each row (within 1e-06); row 0 (from state 'outside') sums to 0.95"),
    ({"hmm": {"transition": [[1.1, -0.1], [0.03, 0.97]]}},
     "hmm.transition must hold probabilities >= 0 (row 0, column 1 is -0.1)"),
    ({"hmm": {"transition": [[0.98, 0.02]]}}, "hmm.transition must be a K × K matrix"),
    ({"hmm": {"start": [0.2, 0.3, 0.5]}}, "hmm.start must be a vector (an entry per state) of shape 2 (got 3)"),
    ({"hmm": {"inside": ["isle"]}}, "hmm.inside must list states from task.hmm.states (outside, island); unknown: isle"),
    ({"hmm": {"inside": []}}, "hmm.inside must name at least one of the states"),
    ({"hmm": {"emission": [[0.3, 0.2, 0.5], [0.125, 0.375, 0.375, 0.125]]}},
     "hmm.emission must have 4 columns, one per base A C G T (row 0, state 'outside', has 3)"),
    ({"hmm": {"emission": [[0.3, 0.2, 0.2, 0.3]]}}, "hmm.emission must be a K × M matrix (a row per state (outside, "
                                                    "island), a column per symbol) of shape 2 × ? (got 1 × 4)"),
    ({"hmm": {"states": ["a", "a"]}}, "hmm.states must name each state once"),
    ({"num_train": 0}, "num_train must be >= 1, got 0"),
    ({"length": 0}, "length must be >= 1, got 0"),
]


@pytest.mark.parametrize("overrides, message", BAD, ids=[m.split(" must")[0] + f"-{i}" for i, (_, m) in enumerate(BAD)])
def test_bad_settings_are_refused_naming_the_key(overrides, message):
    with pytest.raises(SettingError) as err:
        make_task("dna", **overrides)
    assert message in err.value.keyed(err.value.name)


def test_the_hmm_refuses_what_is_not_one_by_itself():
    with pytest.raises(HMMError, match=r"emission must sum to 1 in each row .* row 1 \(of state '1'\) sums to 0.9"):
        HMM([1.0, 0.0], [[0.5, 0.5], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.4]])
    with pytest.raises(HMMError, match="start must hold finite numbers only"):
        HMM([np.nan, 1.0], [[0.5, 0.5], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="impossible under this HMM"):
        HMM([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]).posteriors([0, 1])


def test_a_bad_hmm_on_the_command_line_is_one_message_and_exit_status_2(tmp_path):
    out = seqfw("task=dna", "task.hmm.transition=[[0.9,0.05],[0.03,0.97]]", "tracking=none", "train.progress=false",
                cwd=tmp_path, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
    assert "task.hmm.transition must sum to 1 in each row (within 1e-06); row 0 (from state 'outside') " \
           "sums to 0.95, got [[0.9, 0.05], [0.03, 0.97]]" in out.stderr
    assert not list(tmp_path.rglob("checkpoint*.npz"))


@pytest.mark.parametrize("override, message", [
    ("task.hmm.emission=[[1,0,0,0]]", "task.hmm.emission must be a K × M matrix (a row per state (outside, island), "
                                      "a column per symbol) of shape 2 × ? (got 1 × 4)"),
    ("task.hmm.transition=abc", "task.hmm.transition must be a K × K matrix"),
    ("task.hmm.states=[a,b,c]", "task.hmm.inside must list states from task.hmm.states (a, b, c); unknown: island"),
])
def test_whole_numbers_and_wrong_shapes_on_the_command_line_are_ours_to_refuse(tmp_path, override, message):
    """OmegaConf would refuse ``[[1,0,0,0]]`` for a nested float list, and a string for a list, in its own words
    (exit status 1): the HMM's keys are untyped so that every such value reaches the task's own check."""
    out = seqfw("task=dna", override, "tracking=none", cwd=tmp_path, timeout=120)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_an_hmm_written_with_whole_numbers_and_a_bare_inside_name_is_accepted():
    task = make_task("dna", num_train=2, num_val=2, length=30,
                     hmm={"states": ["a", "b"], "inside": "b", "start": [1, 0], "transition": [[0, 1], [1, 0]],
                          "emission": [[1, 0, 0, 0], [0, 0, 0, 1]]})
    assert task.hmm.transition.dtype == np.float64 and "(inside: b)" in task.describe()
    x, y = task._val[0]
    assert list(x[:4]) == [0, 3, 0, 3] and list(y[:4]) == [0, 1, 0, 1]  # A T A T, outside inside ...: exactly the model


def test_the_hmm_is_independent_of_the_network_code():
    """The Bayes bound judges the network: hmm.py imports NumPy and the standard library, no seqfw code."""
    import seqfw.tasks.hmm as module

    tree = ast.parse(Path(module.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] if n.level == 0 else "." for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names <= {"numpy", "__future__", "dataclasses"}, names
    assert DNAConfig().hmm.inside == ["island"]
