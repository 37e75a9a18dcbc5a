"""Untrusted checkpoints, all the way, and the sampler's small wrong results.

One tiny char_lm run is trained once with the real CLI (tracked, so that a resume has a store
to leave alone); every other checkpoint here is that one with a field changed by numpy. Each
crafted file goes through a real entry point in a subprocess: ``python -m seqfw.sample`` or
``python -m seqfw ... train.resume=``. Each is refused with exit status 2, one paragraph naming
the problem, no traceback; a refused resume adds no run to the store and leaves its run as it was.
"""
import io
import json
import os
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

from tests.helpers.cli import seqfw
from tests.helpers.store import assert_refused, runs

ARGS = ["task=char_lm", "train.steps=60", "optim.lr=0.02", "train.eval_every=60", "train.log_every=20",
        "train.batch_size=16", "cell.hidden_size=16", "task.embed_dim=8", "task.num_samples=2", "train.progress=false"]
HINT = "Use a checkpoint that seqfw wrote"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(home with its MLflow store, the run's checkpoint) of one tiny tracked char_lm run."""
    home = tmp_path_factory.mktemp("home")
    out = seqfw(*ARGS, "hydra.run.dir=run", cwd=home)
    assert out.returncode == 0, out.stderr[-2000:]
    return home, home / "run" / "checkpoint.npz"


def arrays_of(path) -> dict:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def craft(trained, out, drop=(), config=None, **changes):
    """The trained checkpoint with ``drop`` left out, ``changes`` (``state/...`` keys via ``**{}``) and
    ``config`` (a function of the config text) applied, written to ``out``."""
    arrays = {k: v for k, v in arrays_of(trained[1]).items() if k not in drop}
    if config is not None:
        arrays["config"] = np.array(config(str(arrays["config"])))
    arrays.update(changes)
    np.savez(out, **arrays)
    return out


def huge_header(trained, out):
    """A real zip of .npy members, one of which declares 10**12 floats and holds 8 bytes: numpy alone
    would allocate terabytes (MemoryError) before noticing."""
    with zipfile.ZipFile(out, "w") as archive:
        for key, value in arrays_of(trained[1]).items():
            buf = io.BytesIO()
            if key == "params/head.b":
                np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                                           "shape": (10**12,)})
                buf.write(b"\0" * 8)
            else:
                np.save(buf, value)
            archive.writestr(f"{key}.npy", buf.getvalue())
    return out


def sample(*args, cwd, timeout=60):
    return subprocess.run([sys.executable, "-m", "seqfw.sample", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, check=False)


def replace(old, new):
    return lambda text: text.replace(old, new, 1)


SAMPLER_CASES = [  # (name, how the file is made, what the message says)
    ("config-a-list", lambda t, o: craft(t, o, config=lambda _: "- cell\n- lstm\n"),
     ["its config is a YAML list", "not a mapping of settings"]),
    ("config-a-scalar", lambda t, o: craft(t, o, config=lambda _: "42\n"), ["its config is a YAML int ('42')"]),
    ("config-not-yaml", lambda t, o: craft(t, o, config=lambda _: "cell: {hidden_size: 8\n"),
     ["its config is not valid YAML (", "at line 2"]),
    ("config-yaml-aliases", lambda t, o: craft(t, o, config=lambda c: c + "x: &a [1, 2]\ny: *a\n"),
     ["its config uses YAML aliases"]),
    ("config-wrong-type", lambda t, o: craft(t, o, config=replace("hidden_size: 16", "hidden_size: abc")),
     ["its config's cell.hidden_size must be a whole number, got 'abc' (cell=lstm)"]),
    ("config-unknown-key", lambda t, o: craft(t, o, config=replace("hidden_size: 16", "hidden_size: 16\n  foo: 1")),
     ["its config has unknown key cell.foo"]),
    ("config-unknown-cell", lambda t, o: craft(t, o, config=replace("name: lstm", "name: nope")),
     ["its config names cell='nope', which is not installed here"]),
    ("huge-hidden-size", lambda t, o: craft(t, o, config=replace("hidden_size: 16", "hidden_size: 1000000")),
     ["its config describes a network of at least 4,000,036,000,000 parameters", "cell.hidden_size=1000000",
      "but the file holds 2,975 in all"]),
    ("huge-depth", lambda t, o: craft(t, o, config=replace("num_layers: 1", "num_layers: 1000000")),
     ["its config says topology.num_layers=1000000, but the file holds parameters for 1 layer"]),
    ("huge-embedding", lambda t, o: craft(t, o, config=replace("embed_dim: 8", "embed_dim: 100000000")),
     ["task.embed_dim=100000000), but the file holds 2,975 in all"]),
    ("huge-array-header", huge_header,
     ["its array params/head.b declares shape (1000000000000,) of float32 (4,000,000,000,000 bytes) but holds 8"]),
]


def limit_memory():
    """At most 3 GiB of address space: a refusal that allocates what the crafted sizes ask for fails here."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


@pytest.mark.parametrize("name, make, texts", SAMPLER_CASES, ids=[c[0] for c in SAMPLER_CASES])
def test_the_sampler_refuses_a_crafted_checkpoint_before_building_it(trained, tmp_path, name, make, texts):
    bad = make(trained, tmp_path / f"{name}.npz")
    out = subprocess.run([sys.executable, "-m", "seqfw.sample", str(bad), "-n", "2"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=60, preexec_fn=limit_memory, check=False)
    message = assert_refused(out, f"checkpoint {bad}", *texts, HINT, max_lines=1)
    assert "MemoryError" not in message and not list(tmp_path.glob("mlflow.db"))


def resume_args(ckpt):
    return [*[a for a in ARGS if not a.startswith("train.steps")], "train.steps=120", f"train.resume={ckpt}",
            "hydra.run.dir=resumed"]


RESUME_CASES = [
    ("no-optimizer-step", lambda t, o: craft(t, o, drop=("state/optim.t",)),
     ["its training state has no optim.t (the optimizer's step count)"]),
    ("bad-generator-state", lambda t, o: craft(t, o, **{"state/rng.host": np.array(json.dumps(
        {"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}, "has_uint32": 0, "uinteger": 0}))}),
     ["its training state rng.host is not a valid PCG64 random-generator state"]),
    ("slot-of-the-wrong-shape", lambda t, o: craft(t, o, **{"state/optim/rnn.layers.0.fwd.W_h/m": np.zeros((3, 3))}),
     ["its optimizer state rnn.layers.0.fwd.W_h/m is float64 of shape (3, 3)",
      "the parameter rnn.layers.0.fwd.W_h is floating point of shape (16, 64)"]),
    ("run-id-not-an-id", lambda t, o: craft(t, o, **{"state/run_id": np.array("../../etc/passwd")}),
     ["its training state run_id is '../../etc/passwd', not an MLflow run id"]),
    ("config-wrong-type", lambda t, o: craft(t, o, config=replace("hidden_size: 16", "hidden_size: abc")),
     ["its config's cell.hidden_size must be a whole number, got 'abc' (cell=lstm)"]),
    ("huge-array-header", huge_header, ["its array params/head.b declares shape (1000000000000,)"]),
]


@pytest.mark.parametrize("name, make, texts", RESUME_CASES, ids=[c[0] for c in RESUME_CASES])
def test_resume_refuses_a_crafted_checkpoint_and_leaves_the_store_alone(trained, tmp_path, name, make, texts):
    home, _ = trained
    bad = make(trained, tmp_path / f"{name}.npz")
    before = runs(home)
    out = seqfw(*resume_args(bad), cwd=home)
    assert_refused(out, *texts, max_lines=1)
    assert "KeyError" not in out.stderr and runs(home) == before  # no new run; the interrupted one untouched


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_fifo_or_a_directory_is_refused_by_both_entry_points_without_hanging(trained, tmp_path, kind):
    home, _ = trained
    target = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(target)
        want = "is a named pipe (FIFO), not a checkpoint file"
    else:
        target.mkdir()
        (target / "checkpoint.npz").write_bytes(b"")
        want = f"is a directory, not a checkpoint file (did you mean {target / 'checkpoint.npz'}?)"
    assert_refused(sample(target, cwd=tmp_path, timeout=30), want, max_lines=1)  # a pipe opened would block here
    before = runs(home)
    assert_refused(seqfw(*resume_args(target), cwd=home, timeout=60), "train.resume", want, HINT, max_lines=1)
    assert runs(home) == before


# -- the sampler's small wrong results ------------------------------------------------------------------


def greedy_by_hand(ckpt) -> str:
    """The arg-max path, step by step, from the model itself: the reference for --temperature 0."""
    from seqfw.runner.serving import load_run
    from seqfw.tasks.vocab import EOS, PAD, UNK

    _, s = load_run(str(ckpt))
    vocab, state, out = s.task.vocab, None, []
    token = eos = vocab.stoi[EOS]
    for _ in range(s.task.cfg.sample_len):
        logits, state = s.model.logits(s.params, np.array([[token]]), None, state)
        z = np.asarray(logits[0, 0], dtype=np.float64)
        z[[vocab.stoi[UNK], vocab.stoi[PAD]]] = -np.inf
        token = int(z.argmax())
        if token == eos:
            break
        out.append(vocab.itos[token])
    return s.task.detokenize(out)


def test_temperature_zero_is_greedy_the_arg_max_path_for_every_seed(trained, tmp_path):
    _, ckpt = trained
    a = sample(ckpt, "-n", "3", "--temperature", "0", "--seed", "1", cwd=tmp_path)
    b = sample(ckpt, "-n", "3", "--temperature", "0", "--seed", "7", cwd=tmp_path)
    assert a.returncode == 0 and "Traceback" not in a.stderr, a.stderr
    names = a.stdout.splitlines()
    assert a.stdout == b.stdout and names == [greedy_by_hand(ckpt)] * 3 and names[0]  # a real name, not ""
    drawn = sample(ckpt, "-n", "3", "--seed", "1", cwd=tmp_path)  # the run's temperature: not greedy
    assert drawn.returncode == 0 and drawn.stdout != a.stdout
    assert "0 is greedy" in " ".join(sample("--help", cwd=tmp_path).stdout.split())  # and --help says so


def test_a_tiny_temperature_is_stable_and_picks_what_greedy_picks(trained, tmp_path):
    _, ckpt = trained
    greedy = sample(ckpt, "-n", "3", "--temperature", "0", cwd=tmp_path)
    for t in ("1e-300", "5e-324"):
        tiny = sample(ckpt, "-n", "3", "--temperature", t, "--seed", "3", cwd=tmp_path)
        assert tiny.returncode == 0 and tiny.stderr == "" and tiny.stdout == greedy.stdout, tiny.stderr


def test_next_tokens_never_picks_a_banned_token_and_never_warns():
    from seqfw.tasks.sampling import next_tokens

    logits = np.array([[9.0, 1.0, 3.0, 3.5], [0.0, 2.0, 8.0, -1.0]], dtype=np.float32)  # 0 and 2: banned
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no invalid value: no NaN on the way
        for t in (0, 1e-300, 5e-324):
            assert next_tokens(logits, [0, 2], t, np.random.default_rng(0)).tolist() == [3, 1]
        hot = next_tokens(np.repeat(logits, 200, axis=0), [0, 2], 1e300, np.random.default_rng(0))
    assert set(hot.tolist()) == {1, 3}  # a huge temperature: uniform over the allowed tokens, still none banned


@pytest.mark.parametrize("args, message", [
    (["--seed", "-5"], "error: --seed must be >= 0, got -5 (numpy's generators take no negative seed)"),
    (["--temperature", "-1"], "error: --temperature must be a finite number >= 0 (0: greedy"),
    (["--temperature", "inf"], "error: --temperature must be a finite number >= 0 (0: greedy"),
])
def test_bad_sampler_flags_are_refused_before_the_checkpoint_is_read(tmp_path, args, message):
    out = sample(tmp_path / "never-read.npz", *args, cwd=tmp_path)
    assert assert_refused(out, message, max_lines=1).startswith(message)
