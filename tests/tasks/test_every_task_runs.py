"""Every task trains with its default topology and every other topology it declares (tiny sizes)."""
import math

import pytest
from hydra import compose, initialize_config_dir

from seqfw import task_registry
from seqfw.cli.schema import conf_dir, register_configs
from seqfw.runner.loop import fit

TINY = {
    "ner": ["task.num_sentences=60"],
    "adding": ["task.seq_len=6", "task.num_val=20"],
    "agreement": ["task.num_train=40", "task.num_val=10", "task.clause_min=2", "task.clause_max=4"],
    "sentiment": ["task.num_train=40", "task.num_val=10"],
    "char_lm": ["task.num_samples=5", "task.sample_len=6"],
    "word_lm": ["task.num_samples=3", "task.sample_len=5", "task.vocab_size=50", "task.embed_dim=4"],
    "name_gen": ["task.num_samples=3", "task.sample_len=6"],
    "minimal_pairs": ["task.num_train=40", "task.num_val=10", "task.max_phrases=2", "task.pairs_per_length=4",
                      "task.homophone_pairs=4", "task.num_samples=3", "task.sample_len=6", "task.embed_dim=4"],
    "dates": ["task.num_train=40", "task.num_val=6", "task.embed_dim=4", "task.num_samples=3"],
    "dna": ["task.num_train=8", "task.num_val=4", "task.length=20", "task.embed_dim=4", "task.num_samples=2"],
}
COMMON = ["tracking=none", "train.steps=3", "train.eval_every=3", "train.log_every=1", "train.batch_size=4",
          "cell.hidden_size=4", "train.progress=false", "train.grad_curves=0"]


def _topology_options():
    import yaml

    return {p.stem: yaml.safe_load(p.read_text()) for p in (conf_dir() / "topology").glob("*.yaml")}


def _cases():
    topo = _topology_options()
    cases = []
    for name, spec in sorted(task_registry().items()):
        info = spec.cls.info
        for option, body in sorted(topo.items()):
            kind = body["kind"] or info.topologies[0]
            if kind in info.topologies and (info.bidirectional or not body["bidirectional"]):
                cases.append((name, option))
    return cases


CASES = _cases()


def test_the_case_list_covers_every_task_and_kind():
    assert set(TINY) == set(task_registry())
    for name, spec in task_registry().items():
        options = [o for n, o in CASES if n == name]
        assert spec.cls.info.default_topology in options and len(options) >= 2


@pytest.fixture(scope="module")
def compose_cfg():
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        yield lambda overrides: compose("config", overrides=overrides)


@pytest.mark.parametrize("task, topology", CASES, ids=[f"{t}-{o}" for t, o in CASES])
def test_task_trains_with_topology(compose_cfg, task, topology, tmp_path):
    from seqfw.runner.settings import RunContext

    cfg = compose_cfg([f"task={task}", f"topology={topology}", *COMMON, *TINY[task]])
    result = fit(cfg, RunContext(output_dir=tmp_path))
    assert math.isfinite(result.train_loss) and math.isfinite(result.objective)
    assert result.metric == task_registry()[task].cls.info.metric
    assert (tmp_path / "checkpoint.npz").exists()


def test_dates_decodes_with_beam_search_too(compose_cfg, tmp_path):
    from seqfw.runner.settings import RunContext

    cfg = compose_cfg(["task=dates", "task.beam_size=3", *COMMON, *TINY["dates"]])
    assert math.isfinite(fit(cfg, RunContext(output_dir=tmp_path)).objective)


def test_a_task_selects_its_own_default_topology(compose_cfg):
    assert compose_cfg(["task=adding"]).topology.kind == "many_to_one"
    assert compose_cfg(["task=adding", "topology=bidir"]).topology.bidirectional is True
    assert compose_cfg(["task=ner"]).topology.kind == "many_to_many"
