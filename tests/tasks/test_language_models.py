"""Language models: tokenisation, sentence scores, and sampling from a finished run's checkpoint."""
import math
import subprocess
import sys

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from seqfw import make_task, recurrent
from seqfw.cli.schema import conf_dir, register_configs
from seqfw.engine.models import Batch
from seqfw.runner.loop import fit
from seqfw.runner.settings import RunContext
from seqfw.tasks.word_lm import tokenize


def test_word_tokenisation_and_the_top_k_vocabulary():
    assert tokenize("Don't stop: 42 times!") == ["don't", "stop", ":", "42", "times", "!"]
    task = make_task("word_lm", vocab_size=50)
    assert len(task.vocab) == 53 and task.vocab.itos[:3] == ["<pad>", "<unk>", "<eos>"]
    x, y = task._val[0]
    assert y[-1] == task.vocab.stoi["<eos>"] and x[0] == task.vocab.stoi["<eos>"]
    assert task.vocab.stoi["<unk>"] in {t for x, _ in task._val for t in x}  # rare words became <unk>


@pytest.mark.parametrize("name, text", [("word_lm", "the value of the expression is returned ."),
                                        ("char_lm", "Anna")])
def test_a_sentence_score_is_the_models_own_likelihood(name, text):
    task = make_task(name)
    model = task.build_model(recurrent("lstm", task.input_size, 8), "many_to_many")
    params = model.init_params(np.random.default_rng(0), np, np.float64)
    logp, per_token = task.score(model, params, np, text)
    assert per_token[-1][0] == "<eos>" and len(per_token) == len(task.tokenize(text)) + 1
    assert logp == pytest.approx(sum(v for _, v in per_token)) and logp < 0
    x, y = task._encode(task.tokenize(text))
    loss, *_ = model.loss_and_grads(params, Batch(np.array(x)[:, None], np.array(y)[:, None], None))
    assert -logp == pytest.approx(loss, rel=1e-10)  # the training loss of that one sentence


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    register_configs()
    out = tmp_path_factory.mktemp("run")
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["task=char_lm", "tracking=none", "train.steps=30", "cell.hidden_size=16",
                                           "train.progress=false", "train.eval_every=30", "task.num_samples=5"])
    fit(cfg, RunContext(output_dir=out))
    return out / "checkpoint.npz"


def sample_cli(*args):
    return subprocess.run([sys.executable, "-m", "seqfw.sample", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_sampling_from_a_checkpoint_is_seeded(trained_checkpoint):
    a = sample_cli(trained_checkpoint, "-n", "6", "--seed", "1")
    b = sample_cli(trained_checkpoint, "-n", "6", "--seed", "1")
    c = sample_cli(trained_checkpoint, "-n", "6", "--seed", "2")
    assert a.returncode == 0, a.stderr
    names = a.stdout.splitlines()
    assert len(names) == 6 and a.stdout == b.stdout != c.stdout
    assert all("<unk>" not in n and "<pad>" not in n and len(n) <= 20 for n in names)


def test_scoring_from_a_checkpoint(trained_checkpoint):
    out = sample_cli(trained_checkpoint, "--score", "Mary")
    assert out.returncode == 0, out.stderr
    p = float(out.stdout.split("P(sentence) = ")[1].split()[0])
    logp = float(out.stdout.split("log P = ")[1].split()[0])
    assert 0 < p < 1 and math.isclose(math.log(p), logp, rel_tol=1e-4)
    assert out.stdout.count("\n") == 2 + 5  # header lines, then M a r y <eos>


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "error: --seed must be >= 0, got -1"),
    (["--temperature", "nan"], "error: --temperature must be a finite number >= 0"),
    (["--temperature", "-2"], "error: --temperature must be a finite number >= 0"),
    (["-n", "0"], "error: -n must be >= 1, got 0"),
])
def test_bad_sampler_flags_are_one_line_errors(trained_checkpoint, args, message):
    out = sample_cli(trained_checkpoint, *args)
    assert out.returncode == 2 and out.stderr.strip().startswith(message) and "Traceback" not in out.stderr


def test_a_zero_temperature_from_python_is_greedy_not_replaced(trained_checkpoint):
    from seqfw.runner.serving import load_run

    _, s = load_run(str(trained_checkpoint))
    greedy = [s.task.sample(s.model, s.params, s.backend.xp, 2, np.random.default_rng(seed), temperature=0)
              for seed in (0, 1)]
    assert greedy[0] == greedy[1] and greedy[0][0] == greedy[0][1]  # the same text for every seed
    with pytest.raises(ValueError, match=r"temperature must be a finite number >= 0 \(0: greedy\), got -1"):
        s.task.sample(s.model, s.params, s.backend.xp, 2, np.random.default_rng(0), temperature=-1)


def test_a_bad_source_is_a_clear_error(tmp_path):
    out = sample_cli("no-such-run", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db")
    assert out.returncode == 2 and "error: 'no-such-run': no such checkpoint file, and not an MLflow run id" in out.stderr
    assert "Traceback" not in out.stderr
    from tests.helpers.cli import client_for

    client_for(tmp_path).search_experiments()  # a store exists, the run does not (an empty file is refused)
    out = sample_cli("0123456789abcdef0123456789abcdef", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db")
    assert out.returncode == 2 and "is neither a checkpoint file nor a run with a checkpoint" in out.stderr
    (tmp_path / "fake.npz").write_bytes(b"not a zip")
    out = sample_cli(tmp_path / "fake.npz")
    assert out.returncode == 2 and "is not an .npz archive" in out.stderr


def test_one_to_many_generates_from_the_class_token():
    task = make_task("name_gen")
    model = task.build_model(recurrent("gru", task.input_size, 8), "one_to_many")
    params = model.init_params(np.random.default_rng(0), np, np.float64)
    by_class = task.sample_classes(model, params, np, 4, np.random.default_rng(0))
    assert set(by_class) == {"female", "male"} and all(len(v) == 4 for v in by_class.values())
    assert not any("<" in n for v in by_class.values() for n in v)  # no class or special token emitted
    x, y = task._train[0]
    assert task.vocab.itos[x[0]] in ("<female>", "<male>") and x[1:] == y[:-1]
    logp, per = task.score(model, params, np, "female: Anna")
    assert [t for t, _ in per] == ["A", "n", "n", "a", "<eos>"]
    with pytest.raises(ValueError, match="CLASS one of female, male"):
        task.score(model, params, np, "Anna")
