"""Bad input of every kind, through the real CLI: a non-zero exit, one clear message naming the
problem and the fix, no traceback, and nothing half-written (no MLflow store, no run, no checkpoint).

Each case is (id, command-line arguments, texts the message must contain). ``{tmp}`` in an
argument is the case's own directory, where the data files below are written first. The
subprocesses run two at a time (they are independent), so the suite costs about a minute.
Elsewhere: a plugin entry point that fails to import (tests/plugins/test_plugins.py), a search in the
wrong direction and a missing launcher plugin (tests/cli/test_sweeps.py); bugs, as opposed to bad
input (tests/cli/test_errors.py).
"""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from seqfw.backend import cupy_available
from tests.helpers.cli import seqfw
from tests.helpers.servers import free_port

FILES = {
    "two.tags": "Paris B-LOC\nis O\nbig O\n\nMaria B-PER\nsmiled O\n",
    "misaligned.tags": "Paris B-LOC\nis O\n\nMaria B-PER smiled O\n",
    "badtag.tags": "Paris B-LOC\n\nMaria B-MISC\n",
    "empty.txt": "",
    "one_line.txt": "just one line\n",
    "latin1.txt": "caf\u00e9 cr\u00e8me\n".encode("latin-1"),
    "binary.bin": bytes(range(256)) * 8,
    "a_file": "not a directory\n",
}

CASES = [
    # config: an unknown option in each group
    ("cell-option", ["cell=lstmm"], ["unknown cell 'lstmm' (did you mean lstm?)", "choose one of:", "gru_simple"]),
    ("topology-option", ["topology=sideways"], ["unknown topology 'sideways'", "many_to_one"]),
    ("backend-option", ["backend=jax"], ["unknown backend 'jax'", "choose one of: cupy, numpy"]),
    ("task-option", ["task=translation"], ["unknown task 'translation'", "char_lm"]),
    ("optim-option", ["optim=lbfgs"], ["unknown optim 'lbfgs'", "adam"]),
    ("tracking-option", ["tracking=wandb"], ["unknown tracking 'wandb'", "mlflow, none"]),
    ("experiment-option", ["experiment=tedy"], ["unknown experiment 'tedy' (did you mean teddy?)"]),
    # config: unknown keys
    ("unknown-key", ["train.stepz=5"], ["unknown key train.stepz (did you mean train.steps?)", "--cfg job"]),
    ("cell-key", ["cell.hiden_size=3"], ["unknown key cell.hiden_size (did you mean cell.hidden_size?)"]),
    ("smuggled-key", ["+foo=1"], ["unknown config key foo", "remove the '+' override"]),
    # config: wrong types
    ("type-float", ["optim.lr=abc"], ["optim.lr must be a number, got 'abc'"]),
    ("type-int", ["train.steps=1.5"], ["train.steps must be a whole number, got '1.5'"]),
    ("type-bool", ["topology.bidirectional=maybe"], ["topology.bidirectional must be true or false"]),
    # config: out-of-range values
    ("hidden-0", ["cell.hidden_size=0"], ["cell.hidden_size must be >= 1, got 0"]),
    ("lr-negative", ["optim.lr=-0.1"], ["optim.lr must be a number > 0.0, got -0.1"]),
    ("clip-0", ["train.clip_norm=0"], ["train.clip_norm must be null (off) or > 0, got 0.0"]),
    ("dropout-high", ["topology.dropout=1.5"], ["topology.dropout must be in [0, 1), got 1.5"]),
    ("dropout-negative", ["topology.dropout=-0.1"], ["topology.dropout must be in [0, 1), got -0.1"]),
    ("batch-0", ["train.batch_size=0"], ["train.batch_size must be >= 1, got 0"]),
    ("dtype", ["backend.dtype=float16"], ["backend.dtype must be one of float32, float64"]),
    ("seed-negative", ["seed=-5"], ["seed must be >= 0, got -5"]),
    ("adam-beta-one", ["optim.beta1=1.0"], ["optim.beta1 must be in [0, 1), got 1.0"]),
    # config: impossible combinations
    ("topology-vs-task", ["task=adding", "topology=many_to_many"],
     ["does not fit task=adding", "topology=many_to_one"]),
    ("bidirectional-lm", ["task=char_lm", "topology=bidir"], ["char_lm", "bidirectional"]),
    # data
    ("missing-file", ["task.path={tmp}/nope.tags"], ["no such file", "relative paths start at"]),
    ("empty-file", ["task.path={tmp}/empty.txt"], ["holds no sentences", "'token tag' pair per line"]),
    ("binary-file", ["task.path={tmp}/binary.bin"], ["is not UTF-8 text", "iconv"]),
    ("non-utf8-file", ["task=char_lm", "task.data.path={tmp}/latin1.txt"], ["is not UTF-8 text", "iconv -t utf-8"]),
    ("corpus-too-small", ["task=char_lm", "task.data.path={tmp}/one_line.txt"],
     ["holds 1 non-empty line(s)", "needs at least 2"]),
    ("tagged-too-small", ["task.path={tmp}/two.tags", "task.val_fraction=0.9"], ["too few for a train/validation split"]),
    ("misaligned-labels", ["task.path={tmp}/misaligned.tags"],
     ["line 4: expected a token and its tag, got 4 field(s)", "'token tag' pair per line"]),
    ("unknown-tag", ["task.path={tmp}/badtag.tags"], ["line 3: unknown tag 'B-MISC'", "B-PER"]),
    ("directory-as-file", ["task.path={tmp}"], ["is a directory; give a text file"]),
    # runtime
    ("unreachable-server", ["tracking.uri=http://127.0.0.1:{port}"],
     ["cannot reach the MLflow tracking server", "tracking=none"]),
    ("unwritable-store", ["tracking.uri=sqlite:///{tmp}/a_file/mlflow.db"],
     ["cannot create the MLflow store", "a_file is a file, not a directory", "tracking=none"]),
    ("unwritable-output-dir", ["hydra.run.dir={tmp}/a_file/run"],
     ["cannot create the output directory", "a_file is a file, not a directory", "hydra.run.dir="]),
]
if not cupy_available():
    CASES.append(("cupy-missing", ["backend=cupy"], ["backend 'cupy' was selected", "choose backend 'numpy'"]))


def _run(case, root: Path):
    name, args, _ = case
    tmp = root / name
    tmp.mkdir()
    for file, content in FILES.items():
        (tmp / file).write_bytes(content if isinstance(content, bytes) else content.encode())
    args = [a.format(tmp=tmp, port=free_port()) for a in args]
    return tmp, seqfw(*args, "train.steps=5", "train.progress=false", cwd=tmp, timeout=120)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    with ThreadPoolExecutor(2) as pool:
        return dict(zip((c[0] for c in CASES), pool.map(lambda c: _run(c, root), CASES)))


def test_the_suite_covers_at_least_25_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_message_and_leaves_nothing_behind(case, results):
    name, _, expected = case
    tmp, out = results[name]
    assert out.returncode != 0, out.stdout[-1500:]
    assert "Traceback" not in out.stderr + out.stdout, out.stderr[-3000:]
    message = out.stderr.strip()
    for text in expected:
        assert text in message, message
    assert len(message.splitlines()) <= 6, message  # one paragraph, not a report
    assert "== seqfw summary ==" not in out.stdout
    assert not (tmp / "mlflow.db").exists() and not (tmp / "mlruns").exists()
    assert not list(tmp.rglob("checkpoint*.npz"))


def test_a_traceback_is_there_when_asked_for(tmp_path):
    """HYDRA_FULL_ERROR=1 is the documented way to see where an error came from."""
    (tmp_path / "empty.txt").write_text("")
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    out = subprocess.run([sys.executable, "-m", "seqfw", "task=char_lm", f"task.data.path={tmp_path}/empty.txt"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode != 0 and "Traceback" in out.stderr and "holds 0 non-empty line(s)" in out.stderr
