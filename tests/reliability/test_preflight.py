"""Everything checked before any work: a setting or name that cannot work is refused before an MLflow
run is created or a step is taken, with one paragraph naming the problem and the fix, exit status 2,
no traceback, and nothing left behind (no ``mlflow.db``, no run, no checkpoint).

Each CLI case is (id, arguments, texts the message must hold); they run through the real command
line two at a time, in a directory of their own that holds a sparse file of twice the memory
available (it costs no disk). tests/cli/test_bad_input.py has the commoner mistakes; these are the
ones that used to surface late: an unknown ``optimized_metric`` after the whole training, a removed
config group or a failing ``${...}`` as a Hydra traceback, optimizer settings that divide by zero at
step 1, and sizes that ran for minutes or died of a MemoryError with a FAILED run left behind.
Beside them: every task reports exactly the metrics it declares, and the memory estimate is within a
factor of two of the measured peak.
"""
import subprocess
import sys
import textwrap
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from seqfw.engine.backend import available_memory
from tests.helpers.cli import TINY, seqfw
from tests.helpers.fake_install import install_plugin
from tests.helpers.store import assert_refused, runs
from tests.tasks.test_every_task_runs import TINY as TINY_TASKS

SIZE_LIMIT_S = 30  # a size guard refuses in seconds (about 3 here); without one these ran for minutes

CASES = [
    # optimized_metric: checked against the metrics the task declares, before the run exists
    ("metric-typo", ["optimized_metric=val/acc"],
     ["optimized_metric='val/acc' is not a metric task=ner reports", "val/entity_f1, val/token_accuracy",
      "Set optimized_metric to one of these, or to null"]),
    # a config group every run needs, removed
    ("cell-null", ["cell=null"], ["cell is required", "'cell=null' removes it", "gru, gru_simple, lstm"]),
    ("topology-deleted", ["~topology"], ["topology is required", "many_to_many", "the default is topology="]),
    # ${...} interpolations that cannot resolve: before composing, and after
    ("interpolation-key", ["train.steps=${oops}"],
     ["train.steps=${oops} cannot be resolved: the config has no key 'oops'", "${oc.env:VAR,default}"]),
    ("interpolation-env", ["train.steps=${oc.env:SEQFW_SURELY_UNSET}"],
     ["the environment variable SEQFW_SURELY_UNSET is not set", "${oc.env:SEQFW_SURELY_UNSET,DEFAULT}"]),
    ("interpolation-resolver", ["cell.hidden_size=${nosuch:3}"], ["there is no resolver 'nosuch'"]),
    ("interpolation-relative", ["train.eval_every=${.steps}"], ["write the whole key, ${train.steps}"]),
    ("interpolation-composed", ["train.steps=${optimized_metric}"],
     ["train.steps cannot be resolved", "Incompatible value 'None'", "give the value itself"]),
    # optimizer settings that would divide by zero (or by eps alone) or give NaN at step 1
    ("adam-eps-underflows", ["optim.eps=1e-50"], ["optim.eps must be between 1.18e-38 and", "float32", "got 1e-50"]),
    ("adam-beta2-one", ["optim.beta2=1.0"], ["optim.beta2 must be in [0, 1), got 1.0"]),
    ("rmsprop-rho-one", ["optim=rmsprop", "optim.rho=1.0"], ["optim.rho must be in [0, 1), got 1.0"]),
    ("sgd-momentum-nan", ["optim=sgd", "optim.momentum=nan"], ["optim.momentum must be in [0, 1], got nan"]),
    # sizes: refused from an estimate, before anything large is allocated
    ("layers-million", ["topology.num_layers=1000000"],
     ["this run needs about", "1,000,000 layers", "topology.num_layers", "or use a machine with more memory"]),
    ("hidden-million", ["cell.hidden_size=1000000"],
     ["the largest part is the parameters, their gradients and the optimizer's state", "Lower cell.hidden_size"]),
    ("batch-huge", ["train.batch_size=100000000"], ["batch 100,000,000", "Lower train.batch_size"]),
    ("corpus-huge", ["task.num_sentences=10000000000"],
     ["task.num_sentences must be at most", "of memory available", "got 10000000000"]),
    ("sequence-huge", ["task=adding", "task.seq_len=10000000000"], ["task.seq_len is too large"]),
    ("samples-huge", ["task=char_lm", "task.num_samples=1000000000"],
     ["task.num_samples must be at most 10,000", "got 1000000000"]),
    ("file-huge", ["task=char_lm", "task.data.path={tmp}/huge.txt"],
     ["huge.txt' is", "too large to train on here", "head -c"]),
]
SIZES = {"layers-million", "hidden-million", "batch-huge", "corpus-huge", "sequence-huge", "samples-huge",
         "file-huge"}
NER_ONLY = ("task.num_sentences", "task.embed_dim")  # TINY's task keys: only for the default task


def _args(args: list[str]) -> list[str]:
    """TINY, less the ner keys where another task is chosen, then the case's own (which win)."""
    other_task = any(a.startswith("task=") for a in args)
    base = [a for a in TINY if not (other_task and a.startswith(NER_ONLY))]
    return base + args


def _run(case, root: Path):
    name, args, _ = case
    tmp = root / name
    tmp.mkdir()
    with open(tmp / "huge.txt", "wb") as f:  # sparse: no disk, but larger than memory allows
        f.truncate(2 * (available_memory() or 2**40))
    args = [a.format(tmp=tmp) if "{tmp}" in a else a for a in _args(args)]
    start = time.perf_counter()
    out = seqfw(*args, cwd=tmp, timeout=120)
    return tmp, out, time.perf_counter() - start


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("preflight")
    with ThreadPoolExecutor(2) as pool:
        return dict(zip((c[0] for c in CASES), pool.map(lambda c: _run(c, root), CASES)))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_refused_before_any_work_in_one_paragraph(case, results):
    """Exit 2, the problem and its fix, no traceback; no store, no run, no checkpoint; sizes in seconds."""
    name, _, expected = case
    tmp, out, seconds = results[name]
    assert_refused(out, *expected)
    assert "== seqfw summary ==" not in out.stdout
    assert not (tmp / "mlflow.db").exists() and runs(tmp) == [] and not (tmp / "mlruns").exists()
    assert not list(tmp.rglob("checkpoint*.npz"))
    if name in SIZES:
        assert seconds < SIZE_LIMIT_S, (name, seconds)


def test_the_sampler_bounds_its_sample_count(tmp_path):
    """``-n 10**9`` is refused before the run is even looked up (the samples are one batch)."""
    out = subprocess.run([sys.executable, "-m", "seqfw.sample", "no-such-run", "-n", str(10**9)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert_refused(out, "-n must be at most 10,000", "got 1000000000", "another --seed")
    assert not (tmp_path / "mlflow.db").exists()


EXTENDED = textwrap.dedent('''
    from seqfw import TaskSpec, hookimpl
    from seqfw.tasks.adding import AddingConfig, AddingTask

    class Extended(AddingTask):
        """Inherits AddingTask's declared metrics, but reports one more: the declaration is not trusted."""

        name = "extended"

        def evaluate(self, model, params, xp):
            return {**super().evaluate(model, params, xp), "val/extra": 1.0}

    @hookimpl
    def seqfw_add_tasks():
        return [TaskSpec("extended", Extended, AddingConfig)]
''')
SMALL = ["task=extended", "task.seq_len=6", "task.num_val=8", "cell.hidden_size=4", "train.batch_size=4",
         "train.steps=2", "train.eval_every=2", "train.progress=false"]


def test_a_plugin_task_without_a_declaration_is_asked_once_before_the_run(tmp_path):
    """A task whose ``evaluate`` is not covered by its ``info.metrics``: its metrics come from one evaluation
    of the initial model, so a typo is still refused before any run, and its own metric is accepted."""
    env = install_plugin(tmp_path, "extended-task", "extended_task", "extended", EXTENDED)
    for name in ("bad", "good"):
        (tmp_path / name).mkdir()
    with ThreadPoolExecutor(2) as pool:
        bad, good = pool.map(lambda args: seqfw(*SMALL, *args[1:], cwd=tmp_path / args[0], env=env),
                             [["bad", "optimized_metric=val/extrq"],
                              ["good", "optimized_metric=val/extra", "tracking=none"]])
    assert_refused(bad, "optimized_metric='val/extrq' is not a metric task=extended reports (did you mean val/extra?)",
                   "val/mse, val/baseline_mse, val/extra")
    assert not (tmp_path / "bad" / "mlflow.db").exists()
    assert good.returncode == 0, good.stderr[-2000:]
    assert "objective val/extra = 1.0000" in good.stdout


@pytest.fixture(scope="module")
def compose_cfg():
    from seqfw.cli.schema import conf_dir, register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        yield lambda overrides: compose("config", overrides=["tracking=none", "train.progress=false", *overrides])


TASKS = TINY_TASKS  # every task at tiny sizes, as the task tests build them


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_reports_exactly_the_metrics_it_declares(task, compose_cfg):
    """``info.metrics`` is what ``optimized_metric`` is checked against, so it must be ``evaluate()``'s keys."""
    from seqfw.plugins.registry import task_registry
    from seqfw.runner.build import build

    from seqfw.tasks import Task

    s = build(compose_cfg([f"task={task}", "cell.hidden_size=4", *TASKS[task]]))
    declared, info = s.task.reported_metrics(), task_registry()[task].cls.info
    if type(s.task).reported_metrics is Task.reported_metrics:
        assert declared == info.metrics
    else:  # metrics that depend on the data (minimal_pairs' length bins) come on top of the fixed ones
        assert set(info.metrics) <= set(declared)
    assert info.metric in declared
    assert set(s.task.evaluate(s.model, s.params, s.backend.xp)) == set(declared)


def test_a_tagged_file_reports_no_ambiguous_accuracy_and_says_so_before_training(tmp_path, compose_cfg):
    """A user's ner file marks no ambiguous tokens: the metric is neither reported nor accepted."""
    from seqfw.runner.build import build
    from seqfw.runner.settings import ConfigError

    path = tmp_path / "two.tags"
    path.write_text("Paris B-LOC\nis O\n\nMaria B-PER\nsmiled O\n\nTom B-PER\nran O\n")
    s = build(compose_cfg([f"task.path={path}", "cell.hidden_size=4", "task.val_fraction=0.3"]))
    assert set(s.task.evaluate(s.model, s.params, s.backend.xp)) == set(s.task.reported_metrics()) == {
        "val/entity_f1", "val/token_accuracy"}
    with pytest.raises(ConfigError, match="it reports val/entity_f1, val/token_accuracy"):
        build(compose_cfg([f"task.path={path}", "optimized_metric=val/ambiguous_accuracy"]))


def _measured_peak(cfg) -> tuple[int, int]:
    """(estimate, measured peak) in bytes: tracemalloc over build, one training step and one evaluation,
    less the task's own data (sized by the task's guard, not by the estimate)."""
    from seqfw.plugins.registry import make_task
    from seqfw.runner.build import build, options
    from seqfw.runner.memory import estimate
    from seqfw.runner.step import train_step

    tracemalloc.start()
    task = make_task(cfg.task.name, **options(cfg.task))
    data = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del task
    tracemalloc.start()
    try:
        s = build(cfg)  # builds the same task again: its data is subtracted below
        batch = s.task.train_batch(np.random.default_rng(0), s.train.batch_size).to(s.backend.xp, s.backend.dtype)
        train_step(s.model, s.params, s.optimizer, batch, s.train, s.backend.random, 1)
        del batch
        s.task.evaluate(s.model, s.params, s.backend.xp)
        peak = tracemalloc.get_traced_memory()[1] - data
    finally:
        tracemalloc.stop()
    return estimate(cfg, s.task, s.kind, s.train).total, peak


@pytest.mark.parametrize("overrides", [
    ["cell.hidden_size=64", "topology=bidir", "topology.num_layers=2", "train.batch_size=128",
     "task.num_sentences=1000"],
    ["task=char_lm", "cell=gru", "cell.hidden_size=128", "train.batch_size=128"],
], ids=["ner-bidir-lstm", "char_lm-gru"])
def test_the_memory_estimate_is_within_a_factor_of_two_of_the_peak(overrides, compose_cfg):
    """The guard's estimate errs high, but by less than 2x (so that a run that fits is not refused)."""
    est, peak = _measured_peak(compose_cfg(overrides))
    assert peak / 1.25 <= est <= 2 * peak, (est, peak)
