"""Sampling controls on a trained char_lm: greedy, top-k, top-p, a prefix; checked against the model's own
logits recomputed by teacher forcing, not against the sampler's code. Refusals in Python and on the CLI."""
import dataclasses
import subprocess
import sys

import numpy as np
import pytest

import seqfw
from seqfw import make_task, recurrent
from seqfw.tasks.vocab import EOS, PAD, UNK

N = 200  # samples per distribution check


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return seqfw.run(["task=char_lm", "tracking=none", "train.steps=150", "cell.hidden_size=32", "train.progress=false",
                      "train.grad_curves=0", f"hydra.run.dir={out}"])


def step_logits(t, text: str, start: str = EOS) -> np.ndarray:
    """(len(text) + 1, V) float64: the logits after ``start`` and each symbol of ``text``, in one pass."""
    ids = [t.task.vocab.stoi[start]] + t.task.vocab.encode(list(text))
    logits, _ = t.model.logits(t.params, t.backend.xp.asarray(np.array(ids)[:, None]), None)
    return np.asarray(logits[:, 0], dtype=np.float64)


def allowed(t, z: np.ndarray, never=()) -> np.ndarray:
    z = z.copy()
    z[..., [t.task.vocab.stoi[s] for s in (UNK, PAD, *never)]] = -np.inf
    return z


def emitted(t, text: str) -> list[int]:
    """The ids drawn for ``text``: its symbols, then <eos> unless it reached the length limit."""
    ids = t.task.vocab.encode(list(text))
    return ids + ([t.task.vocab.stoi[EOS]] if len(text) < t.task.cfg.sample_len else [])


def greedy_by_hand(t, prefix: str = "", start: str = EOS, never=()) -> str:
    """The arg-max path, each step computed from the whole sequence so far (no state carried)."""
    text = prefix
    for _ in range(t.task.cfg.sample_len):
        token = t.task.vocab.itos[int(allowed(t, step_logits(t, text, start)[-1], never).argmax())]
        if token == EOS:
            break
        text += token
    return text


# -- greedy -----------------------------------------------------------------------------------------------


def test_greedy_is_the_arg_max_path_for_every_seed(trained):
    greedy = trained.sample(3, greedy=True, seed=1)
    assert greedy == trained.sample(3, greedy=True, seed=7) == [greedy_by_hand(trained)] * 3 and greedy[0]
    for text in greedy[:1]:
        z = allowed(trained, step_logits(trained, text))
        assert [int(i) for i in z.argmax(axis=1)][: len(emitted(trained, text))] == emitted(trained, text)
    assert trained.sample(3, temperature=0, seed=2) == greedy
    assert trained.sample(3, top_k=1, seed=3) == greedy  # one token left: no choice
    assert trained.sample(3, top_p=0.01, seed=4) == greedy  # the nucleus of a tiny p: the most likely token alone
    assert len(set(trained.sample(20, seed=5))) > 1  # and plain sampling is not greedy


# -- top-k and top-p: every emitted token within that step's set ------------------------------------------


def ranks(t, text: str) -> list[int]:
    """Each emitted token's rank among the allowed tokens at its step (0: the most likely)."""
    z = allowed(t, step_logits(t, text))
    ids = emitted(t, text)
    return [int((z[i] > z[i, tok] + 1e-6).sum()) for i, tok in enumerate(ids)]


def test_top_k_never_draws_outside_the_k_most_likely(trained):
    texts = trained.sample(N, top_k=3, seed=0)
    assert max(r for text in texts for r in ranks(trained, text)) <= 2
    first = {text[:1] for text in texts}
    assert len(first) == 3  # it does draw: all three of the first step's candidates appear
    assert len(set(texts)) > 20
    wider = trained.sample(N, top_k=10, seed=0)
    assert max(r for text in wider for r in ranks(trained, text)) > 2  # a wider k reaches further


def nucleus_mass_before(t, text: str, temperature: float = 1.0) -> list[float]:
    """For each emitted token, the probability of the allowed tokens strictly more likely than it."""
    z = allowed(t, step_logits(t, text)) / temperature
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return [float(p[i][p[i] > p[i, tok] * (1 + 1e-6)].sum()) for i, tok in enumerate(emitted(t, text))]


def test_top_p_draws_only_from_the_nucleus(trained):
    texts = trained.sample(N, top_p=0.6, seed=0)
    assert max(m for text in texts for m in nucleus_mass_before(trained, text)) < 0.6 + 1e-6
    assert len({text[:1] for text in texts}) > 1  # not greedy
    everything = max(m for text in trained.sample(N, seed=0) for m in nucleus_mass_before(trained, text))
    assert everything > 0.6  # without top-p, tokens outside that nucleus are drawn
    assert trained.sample(50, top_p=1.0, seed=3) == trained.sample(50, seed=3)  # p = 1 keeps every token


def test_top_k_then_top_p_then_temperature_all_hold_together(trained):
    texts = trained.sample(N, temperature=2.0, top_k=4, top_p=0.7, seed=2)
    assert max(r for text in texts for r in ranks(trained, text)) <= 3
    # the nucleus is taken after top-k and temperature: among the 4 kept tokens at T = 2
    for text in texts[:40]:
        z = allowed(trained, step_logits(trained, text)) / 2.0
        for i, tok in enumerate(emitted(trained, text)):
            top = np.argsort(-z[i])[:4]
            p = np.exp(z[i, top] - z[i, top].max())
            p /= p.sum()
            assert p[p > p[list(top).index(tok)] * (1 + 1e-6)].sum() < 0.7 + 1e-6


# -- a prefix ---------------------------------------------------------------------------------------------


def test_a_prefix_is_kept_verbatim_and_warms_the_state(trained):
    assert trained.sample(2, greedy=True, prime="Mar") == [greedy_by_hand(trained, "Mar")] * 2
    assert greedy_by_hand(trained, "Mar") != "Mar" + greedy_by_hand(trained)  # the prefix matters
    texts = trained.sample(N, top_k=3, prime="Ka", seed=1)
    assert all(t.startswith("Ka") for t in texts) and len(set(texts)) > 10
    assert max(r for text in texts for r in ranks(trained, text)[2:]) <= 2  # drawn after the prefix: top-3
    assert trained.sample(3, prime="", seed=4) == trained.sample(3, seed=4)  # an empty prefix: none


def name_gen_model(favour: str | None = None):
    task = make_task("name_gen")
    model = task.build_model(recurrent("gru", task.input_size, 16), "one_to_many")
    params = model.init_params(np.random.default_rng(0), np, np.float64)
    if favour:
        params["head"]["b"][task.vocab.stoi[favour]] = 30.0
    return task, model, params


def test_name_gen_continues_the_prefix_after_every_class():
    task, model, params = name_gen_model()
    lines = task.sample(model, params, np, 3, np.random.default_rng(0), top_k=5, prime="Ma")
    assert [line.split(": ")[0] for line in lines] == ["female"] * 3 + ["male"] * 3
    assert all(line.split(": ", 1)[1].startswith("Ma") for line in lines)
    t = type("T", (), {"task": task, "model": model, "params": params, "backend": type("B", (), {"xp": np})})
    greedy = task.sample_classes(model, params, np, 2, np.random.default_rng(0), temperature=0, prime="Ma")
    for c in ("female", "male"):
        assert greedy[c] == [greedy_by_hand(t, "Ma", f"<{c}>", task.class_tokens)] * 2


# -- never a banned token -----------------------------------------------------------------------------------


@pytest.mark.parametrize("controls", [{"top_k": 1}, {"top_k": 2}, {"top_p": 0.05}, {"top_p": 0.9},
                                      {"temperature": 0}, {"prime": "An", "top_k": 3}])
@pytest.mark.parametrize("favour", ["<female>", UNK, PAD])
def test_name_gen_never_emits_a_class_or_special_token(controls, favour):
    task, model, params = name_gen_model(favour)
    names = task.sample_classes(model, params, np, 20, np.random.default_rng(0), **controls)
    assert all("<" not in n for v in names.values() for n in v)
    assert sum(map(len, (n for v in names.values() for n in v))) > 0


# -- evaluation samples and the task's own controls -------------------------------------------------------


def test_evaluation_samples_honour_the_tasks_controls(trained):
    m, p, xp = trained.model, trained.params, trained.backend.xp
    greedy = greedy_by_hand(trained)
    cold = make_task("char_lm", temperature=0)
    assert cold.samples(m, p, xp) == f"{greedy}{'' if greedy in cold.known else '  (new)'}\n" * 50
    assert cold.evaluate(m, p, xp)["sample/new_share"] in (0.0, 1.0)
    assert make_task("char_lm", top_k=1).samples(m, p, xp) == cold.samples(m, p, xp)
    assert make_task("char_lm", top_p=0.01).samples(m, p, xp) == cold.samples(m, p, xp)
    hot = make_task("char_lm").samples(m, p, xp)
    assert len(set(hot.splitlines())) > 1
    task, model, params = name_gen_model()
    lines = make_task("name_gen", temperature=0).samples(model, params, np).splitlines()
    assert len(set(lines[:25])) == len(set(lines[25:])) == 1 and lines[0].startswith("female: ")


def test_the_runs_controls_are_the_default_and_a_request_overrides_them(trained):
    top1 = dataclasses.replace(trained, task=make_task("char_lm", top_k=1))  # a run configured task.top_k=1
    greedy = trained.sample(4, greedy=True)
    assert top1.sample(4, seed=9) == greedy and top1.sample(4, greedy=True) == greedy  # greedy drops its top_k
    assert len(set(top1.sample(N, top_k=5, seed=9))) > 1
    cold = dataclasses.replace(trained, task=make_task("char_lm", temperature=0))
    assert cold.sample(4, seed=1) == greedy
    with pytest.raises(seqfw.SeqfwError) as err:
        cold.sample(3, top_k=5)
    assert str(err.value) == ("the run samples greedily (task.temperature 0), so top_k does not apply; give a "
                              "temperature as well, e.g. temperature 1")
    assert len(set(cold.sample(N, top_k=5, temperature=1.0))) > 1


@pytest.mark.parametrize("option, value, message", [
    ("top_k", 0, "top_k must be null (no limit) or a whole number >= 1 (draw among the k most likely tokens), got 0"),
    ("top_p", 1.5, "top_p must be null (no limit) or in (0, 1] (draw among the fewest most likely tokens that hold "
                   "this much probability), got 1.5"),
    ("temperature", -1.0, "temperature must be a finite number >= 0 (0: greedy), got -1.0"),
    ("temperature", float("inf"), "temperature must be a finite number >= 0 (0: greedy), got inf"),
])
@pytest.mark.parametrize("name", ["char_lm", "word_lm", "name_gen"])
def test_bad_task_controls_are_refused_when_the_task_is_made(name, option, value, message):
    with pytest.raises(seqfw.SettingError) as err:
        make_task(name, **{option: value})
    assert str(err.value).endswith(message)


def test_a_greedy_task_with_top_k_is_refused():
    with pytest.raises(seqfw.SettingError, match="top_k must be null when task.temperature is 0: greedy decoding "
                                                 "takes the most likely token, got 3"):
        make_task("char_lm", temperature=0, top_k=3)


# -- refusals: from Python and from the command line ------------------------------------------------------

REFUSED = [  # (Python keywords, CLI flags, the Python message, the CLI message)
    ({"top_k": 0}, ["--top-k", "0"], "top_k must be a whole number >= 1 (draw among the k most likely tokens), got 0",
     "--top-k must be a whole number >= 1 (draw among the k most likely tokens), got 0"),
    ({"top_k": 2.5}, ["--top-k", "2.5"], "top_k must be a whole number >= 1 (draw among the k most likely tokens), "
     "got 2.5", "--top-k must be a whole number >= 1 (draw among the k most likely tokens), got 2.5"),
    ({"top_p": 0.0}, ["--top-p", "0"], "top_p must be in (0, 1] (draw among the fewest most likely tokens that hold "
     "this much probability), got 0.0", "--top-p must be in (0, 1] (draw among the fewest most likely tokens that "
     "hold this much probability), got 0.0"),
    ({"top_p": 1.01}, ["--top-p", "1.01"], "top_p must be in (0, 1] (draw among the fewest most likely tokens that "
     "hold this much probability), got 1.01", "--top-p must be in (0, 1] (draw among the fewest most likely tokens "
     "that hold this much probability), got 1.01"),
    ({"greedy": True, "top_k": 3}, ["--greedy", "--top-k", "3"],
     "greedy decoding (greedy=True) takes the most likely token; top_k does not apply",
     "greedy decoding (--greedy) takes the most likely token; --top-k does not apply"),
    ({"greedy": True, "top_p": 0.9}, ["--greedy", "--top-p", "0.9"],
     "greedy decoding (greedy=True) takes the most likely token; top_p does not apply",
     "greedy decoding (--greedy) takes the most likely token; --top-p does not apply"),
    ({"greedy": True, "temperature": 0.5}, ["--greedy", "--temperature", "0.5"],
     "greedy decoding (greedy=True) takes the most likely token; temperature 0.5 does not apply (greedy is "
     "temperature 0)", "greedy decoding (--greedy) takes the most likely token; --temperature 0.5 does not apply "
     "(greedy is temperature 0)"),
    ({"temperature": 0, "top_k": 3}, ["--temperature", "0", "--top-k", "3"],
     "greedy decoding (temperature 0) takes the most likely token; top_k does not apply",
     "greedy decoding (--temperature 0) takes the most likely token; --top-k does not apply"),
]


@pytest.mark.parametrize("kwargs, flags, message, cli_message", REFUSED, ids=[" ".join(r[1]) for r in REFUSED])
def test_refused_controls_from_python(trained, kwargs, flags, message, cli_message):
    with pytest.raises(seqfw.SeqfwError) as err:
        trained.sample(2, **kwargs)
    assert str(err.value) == message


def test_a_prefix_outside_the_vocabulary_is_refused_naming_what_is_missing(trained):
    with pytest.raises(seqfw.SeqfwError) as err:
        trained.sample(2, prime="Mär")
    assert str(err.value) == "prime 'Mär': 'ä' is not in the model's vocabulary (55 symbols)"
    with pytest.raises(seqfw.SeqfwError, match=r"prime 'Zoë 1': 'ë', ' ', '1' are not in the model's vocabulary"):
        trained.sample(2, prime="Zoë 1")
    task = make_task("word_lm")
    with pytest.raises(seqfw.SeqfwError, match=r"^--prime 'The zyzzyva': 'zyzzyva' is not in the model's "
                                               r"vocabulary \(1787 words\)$"):
        task.prime_ids("The zyzzyva", "--prime")
    assert task.continued("The value", ["of", "x"]) == "The value of x"  # the prefix verbatim, then the words


def sample_cli(*args):
    return subprocess.run([sys.executable, "-m", "seqfw.sample", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def refused(out) -> str:
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.endswith("\n") and out.stderr.count("\n") == 1, out.stderr  # one line
    return out.stderr.strip()


@pytest.mark.parametrize("kwargs, flags, message, cli_message", REFUSED, ids=[" ".join(r[1]) for r in REFUSED])
def test_refused_flags_on_the_command_line_before_the_checkpoint_is_read(tmp_path, kwargs, flags, message,
                                                                         cli_message):
    assert refused(sample_cli(tmp_path / "never-read.npz", *flags)) == f"error: {cli_message}"


def test_score_with_a_sampling_flag_is_refused(tmp_path):
    out = sample_cli(tmp_path / "never-read.npz", "--score", "Mary", "--prime", "M", "--top-k", "3", "--greedy")
    assert refused(out) == ("error: --score scores a sentence and samples nothing; --prime, --top-k, --greedy do "
                            "not apply (leave them out)")
    out = sample_cli(tmp_path / "never-read.npz", "--score", "Mary", "--temperature", "0.5")
    assert refused(out) == "error: --score scores a sentence and samples nothing; --temperature does not apply " \
                           "(leave it out)"


def test_the_command_line_continues_a_prefix_with_top_k(trained):
    out = sample_cli(trained.checkpoint, "--top-k", "3", "--prime", "Ma", "-n", "5", "--seed", "1")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("Ma") for line in lines)
    assert lines == trained.sample(5, top_k=3, prime="Ma", seed=1)  # the same draws as from Python
    bad = sample_cli(trained.checkpoint, "--prime", "Mär")
    assert refused(bad) == "error: --prime 'Mär': 'ä' is not in the model's vocabulary (55 symbols)"


# -- what an adversarial review found -------------------------------------------------------------------------

def test_the_request_s_types_are_checked_numpy_numbers_being_numbers(trained):
    assert trained.sample(3, temperature=np.float32(0.0)) == trained.sample(3, greedy=True)
    assert trained.sample(3, temperature=np.float64(0.7), seed=2) == trained.sample(3, temperature=0.7, seed=2)
    assert trained.sample(2, greedy=np.bool_(True)) == trained.sample(2, greedy=True)
    for wrong in ("no", 1, None):
        with pytest.raises(seqfw.SeqfwError) as err:
            trained.sample(2, greedy=wrong)
        assert str(err.value) == f"greedy must be True or False, got {wrong!r}"


def test_a_prefix_holding_a_special_token_is_refused():
    task = make_task("minimal_pairs", num_train=200, num_val=10, pairs_per_length=2, homophone_pairs=2)
    for prime in ("the <unk> keys", "the keys <eos>", "<pad>"):
        token = next(t for t in prime.split() if t.startswith("<"))
        with pytest.raises(seqfw.SeqfwError) as err:
            task.prime_ids(prime, "--prime")
        assert str(err.value) == f"--prime {prime!r}: {token} is a special token, not text; a prefix is text to continue"
    assert task.prime_ids("the keys", "--prime") == task.vocab.encode(["the", "keys"])


class OldSampler:
    """A plugin's language-model task written before the controls: sample(n, rng, temperature) only."""

    name = "old_lm"

    def sample(self, model, params, xp, n, rng, temperature=None):
        return ["x"] * n


def test_a_sampler_without_the_new_arguments_is_refused_in_one_line_not_a_type_error():
    from seqfw.runner.trained import draw, sampling_problem

    names = {"top_k": "--top-k", "top_p": "--top-p", "prime": "--prime"}
    assert sampling_problem(2, 0, None, names, top_k=3, prime="Ma", task=OldSampler()) == (
        "task=old_lm's sampler has no --top-k, --prime (its sample() takes no such argument: a plugin written "
        "before these controls); leave them out")
    assert sampling_problem(2, 0, 0.5, names, task=OldSampler()) is None  # what it does take still works
    assert draw(OldSampler(), None, None, np, 2, 0, 0.5) == ["x", "x"]


def test_output_into_a_closed_pipe_ends_quietly(trained):
    """``python -m seqfw.sample ... | head -1``: the reader leaves before the samples are printed. That is no
    bug to report: no traceback, no "internal error", nothing on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "seqfw.sample", str(trained.checkpoint), "-n", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the checkpoint is even read: every print meets a closed pipe
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and err == "", err
