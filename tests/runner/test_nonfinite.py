"""A loss or gradient that becomes NaN/inf: stop with the step, the likely cause and the last good
checkpoint (run FAILED), or, with train.on_nonfinite=skip, skip the offending batch and go on.

The skip case needs batches that are bad on their own: a third-party task, installed the way a
plugin is (an entry point in a dist-info on the path), whose every 4th training batch carries an
infinite target."""
import re
import textwrap

import numpy as np

from tests.helpers.fake_install import install_plugin
from tests.helpers.cli import client_for, seqfw

TASK = textwrap.dedent('''
    import numpy as np
    from seqfw import hookimpl
    from seqfw import TaskSpec
    from seqfw.tasks.adding import AddingConfig, AddingTask

    class FlakyAdding(AddingTask):
        """The adding problem, with an infinite target in every 4th training batch."""
        name = "flaky_adding"

        def train_batch(self, rng, batch_size):
            self.calls = getattr(self, "calls", 0) + 1
            batch = super().train_batch(rng, batch_size)
            if self.calls % 4 == 0:
                batch.targets[0] = np.inf
            return batch

    @hookimpl
    def seqfw_add_tasks():
        return [TaskSpec("flaky_adding", FlakyAdding, AddingConfig)]
''')


def install_flaky(tmp_path):
    return install_plugin(tmp_path, "flaky-task", "flaky_task_mod", "flaky", TASK)


SMALL = ["train.progress=false", "task.seq_len=10", "task.num_val=50", "cell.hidden_size=8", "train.batch_size=8",
         "train.eval_every=10", "train.log_every=5"]


def test_a_blow_up_stops_with_the_step_the_cause_and_the_last_good_checkpoint(tmp_path):
    out = seqfw("cell=rnn", "cell.nonlinearity=relu", "optim=sgd", "optim.lr=5", "optim.momentum=0.9", "train.clip_norm=null",
                "train.steps=50", "train.checkpoint_every=1", "task.num_sentences=200", "train.progress=false",
                "hydra.run.dir=run", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    err = out.stderr
    step = int(re.search(r"became (?:nan|inf|non-finite).* at step (\d+)\.", err).group(1))
    assert "lower optim.lr or set train.clip_norm (now null: off)" in err and "train.on_nonfinite=skip" in err
    good = re.search(r"The last good checkpoint \(step (\d+)\) is (\S+);", err)
    assert int(good.group(1)) == step - 1
    with np.load(good.group(2)) as ck:  # the last good state: finite, and resumable
        assert int(ck["step"]) == step - 1 and "state/optim.t" in ck.files
        assert all(np.isfinite(ck[k]).all() for k in ck.files if k.startswith("params/"))
    run = client_for(tmp_path).search_runs(["1"])[0]
    assert run.info.status == "FAILED"


def test_skip_leaves_out_the_bad_batches_and_finishes(tmp_path):
    env = install_flaky(tmp_path)
    out = seqfw("task=flaky_adding", "train.on_nonfinite=skip", "train.steps=30", *SMALL, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    client = client_for(tmp_path)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1, [e.name for e in client.search_experiments()]
    run = runs[0]
    assert run.info.status == "FINISHED" and np.isfinite(run.data.metrics["val/mse"])
    skipped = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "train/skipped_batches")]
    assert skipped == [(4 * k, float(k)) for k in range(1, 8)]  # every 4th batch, counted
    losses = [m.value for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert len(losses) == 5 and all(np.isfinite(losses))  # logged at 5, 10, 15, 25, 30: step 20 was skipped

    stop = seqfw("task=flaky_adding", "train.steps=30", *SMALL, "hydra.run.dir=stopped", cwd=tmp_path, env=env)
    assert stop.returncode == 2 and "the training loss became inf at step 4" in stop.stderr
    assert "No checkpoint was written yet (every train.checkpoint_every=10 steps)" in stop.stderr
