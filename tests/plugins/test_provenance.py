"""Where a run's cell and task came from, recorded so the run can be reproduced and served elsewhere: MLflow
tags, the pyfunc model's requirements, and a checkpoint that names the package it needs when it is missing."""
import importlib.metadata
import subprocess
import sys
import textwrap

import pytest

from tests.helpers.cli import TINY, clean_env, client_for, seqfw
from tests.helpers.dists import DISTS, install
from tests.helpers.store import artifacts, model_files, seed_store


def tracked_run(cell: str, cwd, env=None):
    """One tiny tracked run of ``cell``; (run, its artifact folder)."""
    seed_store(cwd)
    out = seqfw(f"cell={cell}", *TINY, cwd=cwd, env=env)
    assert out.returncode == 0, out.stderr
    (run,) = client_for(cwd).search_runs(["1"])
    return run, artifacts(cwd, run.info.run_id)


def requirements(cwd, run) -> list[str]:
    """The pip requirements of ``run``'s logged model (its files are the model's, not the run's artifacts)."""
    return (model_files(cwd, run.info.run_id) / "requirements.txt").read_text().split()


def test_a_run_of_the_example_plugin_names_its_package_in_tags_and_model_requirements(tmp_path):
    try:
        version = importlib.metadata.version("seqfw-mingru")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the example plugin is not installed: pip install ./plugins/seqfw-mingru (README, .ci/run)")
    run, _ = tracked_run("mingru", tmp_path)
    tags, seqfw_version = run.data.tags, importlib.metadata.version("seqfw")
    assert (tags["seqfw.cell.dist"], tags["seqfw.cell.dist_version"]) == ("seqfw-mingru", version)
    assert (tags["seqfw.task.dist"], tags["seqfw.task.dist_version"]) == ("seqfw", seqfw_version)
    # the built-in task adds nothing: seqfw and the cell's package, each once, pinned
    assert [r for r in requirements(tmp_path, run) if r.startswith("seqfw")] == [f"seqfw=={seqfw_version}",
                                                                         f"seqfw-mingru=={version}"]


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    """A tracked run of a third-party cell (seqfw-evil-lstm's evil_rnn), and the environment that has it."""
    root = tmp_path_factory.mktemp("provenance")
    site = install([DISTS / "evil"], root)
    run, folder = tracked_run("evil_rnn", root, env=site)
    return root, run, folder


def test_a_third_party_cell_is_tagged_and_required(plugin_run):
    root, run, _ = plugin_run
    assert (run.data.tags["seqfw.cell.dist"], run.data.tags["seqfw.cell.dist_version"]) == ("seqfw-evil-lstm", "0.3.1")
    assert "seqfw-evil-lstm==0.3.1" in requirements(root, run)


MISSING = ("cell 'evil_rnn' came from the plugin package seqfw-evil-lstm 0.3.1, which is not installed here: install "
           "it (pip install 'seqfw-evil-lstm==0.3.1') and load the checkpoint again.")


def test_loading_the_checkpoint_without_the_plugin_names_the_package(plugin_run):
    root, run, folder = plugin_run
    checkpoint = folder / "checkpoints" / "checkpoint.npz"
    out = subprocess.run([sys.executable, "-m", "seqfw.sample", str(checkpoint)], capture_output=True, text=True,
                         env=clean_env(), cwd=root, timeout=120)
    assert out.returncode == 2 and MISSING in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_loading_the_logged_model_without_the_plugin_names_the_package(plugin_run):
    root, run, _ = plugin_run
    code = textwrap.dedent(f"""
        import mlflow.pyfunc
        from seqfw import SeqfwError
        mlflow.set_tracking_uri("sqlite:///{root / 'mlflow.db'}")
        try:
            mlflow.pyfunc.load_model("runs:/{run.info.run_id}/model")
        except SeqfwError as err:
            print(err)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), cwd=root,
                         timeout=180)
    assert out.returncode == 0 and MISSING in out.stdout, out.stderr
