"""One error boundary: an error a user can cause is one paragraph (exit 2); anything else is a bug,
shown with its traceback and a line saying so (exit 1) — never dressed up as a typo.

The bugs here are real ones, in a third-party task installed the way pip leaves a plugin: a
NumPy shape error in its evaluation (a ValueError, which used to be printed as a user's mistake)
and a KeyError in its batching. The run must still end FAILED in the store.
"""
import textwrap

import pytest

import seqfw
from seqfw.engine.backend import BackendError
from seqfw.engine.errors import SeqfwError, SettingError
from seqfw.engine.interop import InteropError
from seqfw.plugins.hookspecs import PluginError
from seqfw.runner.checkpoint import CheckpointError
from seqfw.runner.settings import ConfigError, TrainingError
from seqfw.runner.tracking import TrackingError
from seqfw.tasks import DataError
from tests.helpers.cli import client_for, seqfw as run_seqfw
from tests.helpers.fake_install import install_plugin

BUGGY = textwrap.dedent('''
    import numpy as np
    from seqfw import TaskSpec, hookimpl
    from seqfw.tasks.adding import AddingConfig, AddingTask

    class ShapeBug(AddingTask):
        name = "shape_bug"

        def evaluate(self, model, params, xp):
            return {"val/mse": float((np.ones(3) + np.ones(4)).sum())}   # a real broadcasting error

    class KeyBug(AddingTask):
        name = "key_bug"

        def train_batch(self, rng, batch_size):
            return {}["batch"]

    @hookimpl
    def seqfw_add_tasks():
        return [TaskSpec("shape_bug", ShapeBug, AddingConfig), TaskSpec("key_bug", KeyBug, AddingConfig)]
''')
SMALL = ["train.steps=4", "train.eval_every=2", "train.progress=false", "task.seq_len=6", "task.num_val=8",
         "cell.hidden_size=4", "train.batch_size=4"]


@pytest.fixture
def buggy(tmp_path):
    return install_plugin(tmp_path, "buggy-tasks", "buggy_tasks", "buggy", BUGGY)


@pytest.mark.parametrize("task, error", [("shape_bug", "ValueError: operands could not be broadcast together"),
                                         ("key_bug", "KeyError: 'batch'")])
def test_a_bug_shows_its_traceback_says_it_is_a_bug_and_the_run_fails(tmp_path, buggy, task, error):
    out = run_seqfw(f"task={task}", *SMALL, cwd=tmp_path, env=buggy)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "Traceback (most recent call last)" in out.stderr and error in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"seqfw stopped on an internal error ({error.split(':')[0]}")
    assert "This is a bug in seqfw or in a plugin, not a problem with your input" in last
    assert "report it to the seqfw issue tracker" in last and "error: " not in out.stderr
    runs = client_for(tmp_path).search_runs(["1"])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_a_user_error_is_still_one_paragraph_with_exit_2(tmp_path, buggy):
    out = run_seqfw("task=shape_bug", "task.seq_len=1", *SMALL[:3], cwd=tmp_path, env=buggy)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == "error: task.seq_len must be >= 2 (one marked value per half), got 1"


def test_hydra_full_error_shows_the_bug_raw(tmp_path, buggy):
    env = {**buggy, "HYDRA_FULL_ERROR": "1"}
    out = run_seqfw("task=key_bug", *SMALL, cwd=tmp_path, env=env)
    assert out.returncode == 1 and "KeyError: 'batch'" in out.stderr and "seqfw stopped on an internal" not in out.stderr


USER_ERRORS = [SettingError, BackendError, DataError, PluginError, CheckpointError, TrackingError, ConfigError,
               TrainingError, InteropError]


@pytest.mark.parametrize("cls", USER_ERRORS, ids=lambda c: c.__name__)
def test_every_error_a_user_can_cause_shares_the_base_the_cli_catches(cls):
    assert issubclass(cls, SeqfwError) and cls is not SeqfwError
    assert seqfw.SeqfwError is SeqfwError


def test_a_setting_error_carries_the_argument_for_the_config_key():
    err = SettingError("Adam", "lr", -1.0, "must be a number > 0.0")
    assert (err.name, err.value) == ("lr", -1.0)
    assert str(err) == "Adam: lr must be a number > 0.0, got -1.0"
    assert err.keyed("optim.lr") == "optim.lr must be a number > 0.0, got -1.0"
