"""The Hydra config tree: schemas, every group option, build() checks, help text, wheel layout.

Everything here goes through real Hydra composition (``initialize_config_dir`` +
``compose``) over the shipped ``conf/`` tree and the ConfigStore entries that
``register_configs()`` adds (cells and tasks from the plugin registry,
optimizer schemas, experiments). Options are discovered from the registry and
the conf/ directory, so a new cell, topology, optimizer... is covered without
editing this file.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, MissingConfigException
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep
from omegaconf import OmegaConf

from seqfw import cell_registry, task_registry
from seqfw.cli.schema import conf_dir, experiments_dir, help_text, register_configs
from seqfw.engine.models import KINDS as TOPOLOGY_KINDS
from seqfw.engine.optim import OPTIMIZERS
from seqfw.runner.config import BackendConf, TopologyConf, TrackingConf, optim_schema
from seqfw.runner.settings import TrainSettings as TrainConf
from seqfw.engine.recurrence import Bidirectional, Stacked, Unidirectional

REPO = Path(__file__).resolve().parents[2]
OPTIM_SCHEMAS = {name: optim_schema(name) for name in OPTIMIZERS}

# Options discovered at collection time: a new YAML or a new registered cell is tested automatically.
CELLS = sorted(cell_registry())
TASKS = sorted(task_registry())
FILE_GROUPS = ("topology", "backend", "optim", "tracking")
OPTIONS = {g: sorted(p.stem for p in (conf_dir() / g).glob("*.yaml")) for g in FILE_GROUPS}
EXPERIMENTS = sorted(p.stem for p in experiments_dir().glob("*.yaml"))
SCHEMAS = {"topology": TopologyConf, "backend": BackendConf, "tracking": TrackingConf}

# Small enough that a build() takes a fraction of a second.
TINY = ["tracking=none", "task.num_sentences=60", "task.embed_dim=4", "cell.hidden_size=4"]


@pytest.fixture(scope="module", autouse=True)
def _registered():
    register_configs()


def make(overrides=()):
    """The composed config, Hydra's own node included (for ``hydra.runtime.choices``).

    Cached: a compose costs ~0.1 s and many tests look at the same one; no test mutates what it gets.
    """
    return _compose(tuple(overrides))


@functools.lru_cache(maxsize=None)
def _compose(overrides: tuple):
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def chain_text(err: BaseException) -> str:
    """The messages of an exception and everything it was raised from."""
    parts = []
    while err is not None:
        parts.append(str(err))
        err = err.__cause__ or err.__context__
    return "\n".join(parts)


def yaml_values(group: str, option: str) -> dict:
    """The plain key: value pairs an option's YAML sets (its defaults list left out)."""
    node = OmegaConf.to_container(OmegaConf.load(conf_dir() / group / f"{option}.yaml"))
    node.pop("defaults", None)
    return node


def fields_of(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)] if cls else []


# -- 1. discovery and composition of every option of every group -------------------------------------


def test_discovered_options_are_the_expected_ones():
    # non-trivial discovery: if globbing or the registry broke, every parametrized test would vanish
    assert {"rnn", "gru_simple", "gru", "lstm"} <= set(CELLS)
    assert "ner" in TASKS
    assert {"many_to_many", "bidir", "deep"} <= set(OPTIONS["topology"])
    assert {"cupy", "numpy"} <= set(OPTIONS["backend"])
    assert {"adagrad", "adam", "rmsprop", "sgd"} <= set(OPTIONS["optim"])
    assert {"mlflow", "none"} <= set(OPTIONS["tracking"])
    assert "teddy" in EXPERIMENTS
    # every conf/ sub-folder is a group this file knows about (a new group must get tests);
    # conf/hydra/launcher holds launcher presets, tested in tests/cli/test_sweeps.py
    assert sorted(d.name for d in conf_dir().iterdir() if d.is_dir()) == sorted(FILE_GROUPS + ("hydra",))


def test_optimizer_yaml_schema_and_engine_agree():
    assert set(OPTIONS["optim"]) == set(OPTIM_SCHEMAS) == set(OPTIMIZERS)
    for name, schema in OPTIM_SCHEMAS.items():
        assert schema().name == name


def test_primary_config_defaults():
    cfg = make()
    choices = cfg.hydra.runtime.choices
    assert {g: choices[g] for g in ("cell", "topology", "backend", "task", "optim", "tracking")} == {
        "cell": "lstm", "topology": "many_to_many", "backend": "numpy", "task": "ner", "optim": "adam",
        "tracking": "mlflow"}
    assert choices["experiment"] is None
    assert choices["hydra/help"] == "seqfw"
    assert cfg.seed == 0 and cfg.optimized_metric is None
    assert OmegaConf.to_container(cfg.train) == dataclasses.asdict(TrainConf())
    assert cfg.train.steps == 1500 and cfg.train.bptt is None and cfg.train.clip_norm == 5.0
    assert cfg.hydra.job.chdir is False
    assert cfg.hydra.help.template == help_text()


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_composes(cell):
    cfg = make([f"cell={cell}"])
    assert cfg.hydra.runtime.choices.cell == cell
    spec = cell_registry()[cell]
    own = fields_of(spec.config)
    # exactly name, hidden_size and the cell's own options: nothing borrowed from another cell
    assert list(cfg.cell) == ["name", "hidden_size"] + own
    assert cfg.cell.name == cell
    assert cfg.cell.hidden_size == 64
    for f in dataclasses.fields(spec.config) if spec.config else []:
        assert cfg.cell[f.name] == f.default, f.name


def test_builtin_cell_options():
    assert OmegaConf.to_container(make(["cell=lstm"]).cell) == {
        "name": "lstm", "hidden_size": 64, "peephole": False, "forget_bias": 1.0}
    assert OmegaConf.to_container(make(["cell=gru"]).cell) == {"name": "gru", "hidden_size": 64, "reset_after": False}
    assert OmegaConf.to_container(make(["cell=rnn"]).cell) == {"name": "rnn", "hidden_size": 64, "nonlinearity": "tanh"}
    assert OmegaConf.to_container(make(["cell=gru_simple"]).cell) == {"name": "gru_simple", "hidden_size": 64}
    cfg = make(["cell=lstm", "cell.peephole=true", "cell.forget_bias=0.5", "cell.hidden_size=7"])
    assert (cfg.cell.peephole, cfg.cell.forget_bias, cfg.cell.hidden_size) == (True, 0.5, 7)


@pytest.mark.parametrize("group,option", [(g, o) for g in ("topology", "backend", "tracking") for o in OPTIONS[g]])
def test_every_file_option_composes(group, option):
    cfg = make([f"{group}={option}"])
    assert cfg.hydra.runtime.choices[group] == option
    node = OmegaConf.to_container(cfg[group])
    assert node["name"] == option  # the YAML's name matches its file name
    # every key the YAML sets lands under the group, and the schema fills the rest
    assert node == {**dataclasses.asdict(SCHEMAS[group]()), **yaml_values(group, option)}
    assert list(node) == fields_of(SCHEMAS[group])
    # the other groups keep their defaults
    others = {"topology": "many_to_many", "backend": "numpy", "tracking": "mlflow"}
    for other, default in others.items():
        if other != group:
            assert cfg[other].name == default


def test_topology_values():
    assert OmegaConf.to_container(make(["topology=bidir"]).topology) == {
        "name": "bidir", "kind": None, "bidirectional": True, "num_layers": 1, "dropout": 0.0}
    deep = make(["topology=deep"]).topology
    assert (deep.num_layers, deep.bidirectional, deep.dropout) == (3, False, 0.1)
    assert make().topology.num_layers == 1 and make().topology.bidirectional is False
    for option in OPTIONS["topology"]:
        # null = the task's own kind (bidir, deep); otherwise a known RNN type
        assert yaml_values("topology", option)["kind"] in (None, *TOPOLOGY_KINDS), option


def test_backend_and_tracking_values():
    assert OmegaConf.to_container(make(["backend=cupy"]).backend) == {"name": "cupy", "dtype": "float32"}
    assert OmegaConf.to_container(make(["tracking=none"]).tracking) == {
        "name": "none", "uri": None, "experiment": None, "run_name": None}


@pytest.mark.parametrize("optim", OPTIONS["optim"])
def test_every_optimizer_composes(optim):
    cfg = make([f"optim={optim}"])
    assert cfg.hydra.runtime.choices.optim == optim
    schema = OPTIM_SCHEMAS[optim]
    assert list(cfg.optim) == fields_of(schema)  # its own keys and no other optimizer's
    assert OmegaConf.to_container(cfg.optim) == {**dataclasses.asdict(schema()), **yaml_values("optim", optim)}
    assert cfg.optim.name == optim


def test_optimizer_values():
    sgd = OmegaConf.to_container(make(["optim=sgd"]).optim)
    assert sgd == {"name": "sgd", "lr": 0.1, "momentum": 0.0}  # plain SGD, as the engine's SGDSettings says
    assert "beta1" not in sgd
    assert OmegaConf.to_container(make(["optim=adam"]).optim) == {
        "name": "adam", "lr": 0.005, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert OmegaConf.to_container(make(["optim=adagrad"]).optim) == {"name": "adagrad", "lr": 0.05, "eps": 1e-10}
    assert OmegaConf.to_container(make(["optim=rmsprop"]).optim) == {
        "name": "rmsprop", "lr": 0.005, "rho": 0.99, "eps": 1e-8}


@pytest.mark.parametrize("task", TASKS)
def test_every_task_composes(task):
    cfg = make([f"task={task}"])
    assert cfg.hydra.runtime.choices.task == task
    spec = task_registry()[task]
    assert cfg.task.name == task
    assert set(cfg.task) == {"name"} | set(fields_of(spec.config))


def test_ner_task_values():
    assert OmegaConf.to_container(make(["task=ner"]).task) == {
        "name": "ner", "num_sentences": 4000, "val_fraction": 0.15, "ambiguous_fraction": 0.25, "data_seed": 0,
        "embed_dim": 32, "num_samples": 8, "path": None}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    cfg = make([f"experiment={experiment}"])
    assert cfg.hydra.runtime.choices.experiment == experiment
    # every value a sweep can take (a list's items, a search interval's ends) is itself a valid override
    parser = OverridesParser.create()
    for key, values in (cfg.hydra.sweeper.params or {}).items():
        sweep = parser.parse_override(f"{key}={values}").value()
        if isinstance(sweep, ChoiceSweep):
            candidates = sweep.list
        elif isinstance(sweep, IntervalSweep):
            candidates = [sweep.start, sweep.end]
        else:
            candidates = [sweep]
        assert candidates, key
        for value in candidates:
            value = "null" if value is None else value
            assert make([f"experiment={experiment}", f"{key}={value}"]) is not None


def test_teddy_experiment():
    cfg = make(["experiment=teddy"])
    assert cfg.optimized_metric == "val/ambiguous_accuracy"
    assert OmegaConf.to_container(cfg.hydra.sweeper.params) == {"topology": "many_to_many,bidir"}
    assert cfg.hydra.runtime.choices.task == "ner" and cfg.hydra.runtime.choices.cell == "lstm"
    assert cfg.cell.name == "lstm" and cfg.task.name == "ner"
    # the experiment sits at the global package: no stray "experiment" key in the config
    assert "experiment" not in cfg
    # a command-line choice still wins over the experiment's defaults
    assert make(["experiment=teddy", "cell=gru"]).cell.name == "gru"
    # without it, nothing is swept
    assert not make().hydra.sweeper.params


# -- 2. build() for every cell x topology ------------------------------------------------------------


# the default task (ner) is many-to-many; the other kinds are built with their tasks in tests/tasks/
NER_TOPOLOGIES = [o for o in OPTIONS["topology"] if yaml_values("topology", o)["kind"] in (None, "many_to_many")]


def test_the_other_topologies_are_refused_for_ner():
    from seqfw.runner import build as train

    others = sorted(set(OPTIONS["topology"]) - set(NER_TOPOLOGIES))
    assert others == ["encoder_decoder", "many_to_one", "one_to_many", "one_to_one"]
    for option in others:
        with pytest.raises(train.ConfigError, match="does not fit task=ner: it fits many_to_many"):
            train.build(make([f"topology={option}", *TINY]))


@pytest.mark.parametrize("topology", NER_TOPOLOGIES)
@pytest.mark.parametrize("cell", CELLS)
def test_build_every_cell_and_topology(cell, topology):
    from seqfw.runner import build as train

    cfg = make([f"cell={cell}", f"topology={topology}", *TINY])
    s = train.build(cfg)
    be, task, model, params, opt = s.backend, s.task, s.model, s.params, s.optimizer
    topo = yaml_values("topology", topology)
    net = model.rnn
    assert isinstance(net, Stacked)
    assert len(net.layers) == topo["num_layers"] == len(params["rnn"]["layers"])
    assert net.dropout == pytest.approx(topo["dropout"])
    kind = Bidirectional if topo["bidirectional"] else Unidirectional
    directions = ["fwd", "bwd"] if topo["bidirectional"] else ["fwd"]
    width = 4 * len(directions)
    spec = cell_registry()[cell]
    for i, (layer, p) in enumerate(zip(net.layers, params["rnn"]["layers"])):
        assert type(layer) is kind
        assert list(layer.cells) == directions == list(p)
        assert layer.input_size == (4 if i == 0 else width)  # embed_dim, then the layer below
        assert layer.output_size == width
        for c in layer.cells.values():
            assert type(c) is spec.cls and c.hidden_size == 4
            for opt_name in fields_of(spec.config):
                if hasattr(c, opt_name):
                    assert getattr(c, opt_name) == cfg.cell[opt_name]
    assert net.input_size == 4 and net.output_size == width
    assert be.name == "numpy" and be.dtype is np.float32
    assert task.name == "ner" and len(task.train) + len(task.val) == 60
    assert params["head"]["W"].shape[0] == width  # the head reads every direction
    assert type(opt).__name__.lower() == "adam" and opt.lr == pytest.approx(0.005)
    leaves = [a for a in _leaves(params)]
    assert leaves and all(a.dtype == np.float32 for a in leaves)


def _leaves(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from _leaves(v)
    else:
        yield tree


def test_build_passes_cell_options():
    from seqfw.runner import build as train

    cases = {
        "lstm": (["cell.peephole=true", "cell.forget_bias=0.5"], {"peephole": True, "forget_bias": 0.5}),
        "gru": (["cell.reset_after=true"], {"reset_after": True}),
        "rnn": (["cell.nonlinearity=relu"], {"nonlinearity": "relu"}),
    }
    for cell, (overrides, expected) in cases.items():
        model = train.build(make([f"cell={cell}", *TINY, *overrides])).model
        c = model.rnn.layers[0].cells["fwd"]
        assert {k: getattr(c, k) for k in expected} == expected, cell


@pytest.mark.parametrize("optim", OPTIONS["optim"])
def test_build_every_optimizer(optim):
    from seqfw.runner import build as train

    cfg = make([f"optim={optim}", "optim.lr=0.03", "backend.dtype=float64", *TINY])
    s = train.build(cfg)
    be, params, opt = s.backend, s.params, s.optimizer
    assert type(opt) is OPTIMIZERS[optim]
    assert opt.lr == pytest.approx(0.03)
    for key in fields_of(OPTIM_SCHEMAS[optim]):
        if key not in ("name", "lr"):
            assert getattr(opt.settings, key) == pytest.approx(cfg.optim[key]), key
    assert be.dtype is np.float64 and all(a.dtype == np.float64 for a in _leaves(params))


# -- 3. types and keys, refused at composition ------------------------------------------------------


@pytest.mark.parametrize("overrides,key,words", [
    (["optim.lr=abc"], "optim.lr", ["abc", "Float"]),
    (["train.steps=many"], "train.steps", ["many", "Integer"]),
    (["cell.peephole=maybe"], "cell.peephole", ["maybe", "bool"]),
    (["topology.num_layers=two"], "topology.num_layers", ["two", "Integer"]),
    (["cell.hidden_size=1.5"], "cell.hidden_size", ["1.5", "Integer"]),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_wrong_type_refused(overrides, key, words):
    with pytest.raises(ConfigCompositionException) as info:
        make(overrides)
    text = chain_text(info.value)
    assert f"full_key: {key}" in text
    for word in words:
        assert word in text


@pytest.mark.parametrize("overrides,key,schema", [
    (["optim.lrr=1"], "optim.lrr", "AdamConf"),
    (["topology.layers=2"], "topology.layers", "TopologyConf"),
    (["optim=sgd", "optim.beta1=0.5"], "optim.beta1", "SGDConf"),  # adam's key, not sgd's
    (["cell=rnn", "cell.peephole=true"], "cell.peephole", "RnnConf"),  # lstm's option, not rnn's
    (["train.step=5"], "train.step", "TrainSettings"),
    (["tracking.url=x"], "tracking.url", "TrackingConf"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_unknown_key_refused(overrides, key, schema):
    with pytest.raises(ConfigCompositionException) as info:
        make(overrides)
    text = chain_text(info.value)
    assert f"Could not override '{key}'" in text
    assert f"Key '{key.split('.')[-1]}' not in '{schema}'" in text


APPENDED = [
    (["+optim.lrr=1"], "optim.lrr"),
    (["+cell.foo=1"], "cell.foo"),
    (["+topology.layers=2"], "topology.layers"),
    (["+train.foo=1"], "train.foo"),
]


def test_appended_key_composes():
    # Hydra lets an explicit "+key=value" add a key the structured schema lacks ...
    assert make([*TINY, "+topology.layers=2"]).topology.layers == 2


@pytest.mark.parametrize("overrides,key", APPENDED, ids=[c[1] for c in APPENDED])
def test_appended_unknown_key_refused_by_build(overrides, key):
    # ... so build(), which "checks every setting", is the place that must refuse it, naming the key
    from seqfw.runner import build as train

    with pytest.raises(ValueError) as info:
        train.build(make([*TINY, *overrides]))
    assert key in str(info.value)


def _listed(text: str, group: str) -> list[str]:
    block = text.split(f"Available options in '{group}':", 1)[1].split("Config search path", 1)[0]
    return sorted(line.strip() for line in block.splitlines() if line.strip())


@pytest.mark.parametrize("overrides,group,expected", [
    (["cell=lstmm"], "cell", CELLS),
    (["topology=bid"], "topology", OPTIONS["topology"]),
    (["optim=adamw"], "optim", OPTIONS["optim"]),
    (["experiment=tedy"], "experiment", EXPERIMENTS),
])
def test_unknown_option_lists_the_available_ones(overrides, group, expected):
    with pytest.raises(MissingConfigException) as info:
        make(overrides)
    text = str(info.value)
    assert f"Could not find '{group}/{overrides[0].split('=')[1]}'" in text
    assert _listed(text, group) == sorted(expected)
    if group == "cell":
        assert {"lstm", "gru"} <= set(_listed(text, group))


# -- 4. values, refused by build() -------------------------------------------------------------------

BAD_VALUES = [
    # (overrides, dotted key, the bad value as the message shows it, exception type)
    (["train.steps=0"], "train.steps", "0", ValueError),
    (["train.batch_size=0"], "train.batch_size", "0", ValueError),
    (["train.bptt=0"], "train.bptt", "0", ValueError),
    (["train.clip_norm=0"], "train.clip_norm", "0", ValueError),
    (["train.clip_value=-1"], "train.clip_value", "-1", ValueError),
    (["topology.dropout=1.5"], "topology.dropout", "1.5", ValueError),
    (["topology.num_layers=0"], "topology.num_layers", "0", ValueError),
    (["cell.hidden_size=0"], "cell.hidden_size", "0", ValueError),
    (["optim.lr=-1"], "optim.lr", "-1", ValueError),
    (["optim=sgd", "optim.momentum=2"], "optim.momentum", "2", ValueError),
    (["cell=rnn", "cell.nonlinearity=sigmoid"], "cell.nonlinearity", "sigmoid", ValueError),
    (["backend.dtype=float16"], "backend.dtype", "float16", ValueError),
    (["task.val_fraction=1.5"], "task.val_fraction", "1.5", ValueError),
    (["topology.kind=many_to_one"], "topology.kind", "many_to_one", ValueError),
]
def _case_id(case) -> str:
    return " ".join(case[0])


@pytest.mark.parametrize("overrides,key,value,exc", BAD_VALUES, ids=[_case_id(c) for c in BAD_VALUES])
def test_bad_value_refused_by_build(overrides, key, value, exc):
    from seqfw.runner import build as train

    cfg = make([*TINY, *overrides])
    with pytest.raises(exc) as info:
        train.build(cfg)
    assert key in str(info.value)
    assert value in str(info.value)


def test_topology_kind_error_lists_what_fits():
    from seqfw.runner import build as train

    with pytest.raises(train.ConfigError) as info:
        train.build(make([*TINY, "topology.kind=many_to_one"]))
    msg = str(info.value)
    assert "topology.kind='many_to_one'" in msg
    assert "task=ner" in msg and "it fits many_to_many" in msg


def test_bad_value_is_refused_before_the_task_is_built():
    """train.* is checked first: a bad step count fails even where the corpus would be huge."""
    import time

    from seqfw.runner import build as train

    cfg = make(["train.steps=0", "task.num_sentences=10000000"])
    start = time.perf_counter()
    with pytest.raises(train.ConfigError, match=r"train\.steps must be >= 1, got 0"):
        train.build(cfg)
    assert time.perf_counter() - start < 2.0


# -- 5. help text -------------------------------------------------------------------------------------


def test_help_lists_every_group_and_option():
    text = help_text()
    expected = {"cell": CELLS, "task": TASKS, **OPTIONS, "experiment": EXPERIMENTS}
    block = text.split("== Groups (group=option) ==\n", 1)[1].split("\n\n", 1)[0]
    rows = dict(re.findall(r"^  (\w+) +(.+)$", block, flags=re.M))
    assert set(rows) == set(expected)
    for group, options in expected.items():
        assert rows[group].split(", ") == sorted(options), group
    for cell in cell_registry():
        assert cell in rows["cell"].split(", ")
    assert "$CONFIG" in text  # Hydra substitutes the composed config there


def test_help_is_what_hydra_shows():
    cfg = make()
    assert cfg.hydra.help.app_name == "seqfw"
    assert cfg.hydra.help.template == help_text()


# -- 6. wheel layout ----------------------------------------------------------------------------------


def test_pyproject_ships_every_config_group():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    st = meta["tool"]["setuptools"]
    packages, package_data, package_dir = st["packages"], st["package-data"], st["package-dir"]
    assert package_dir["seqfw.conf"] == "conf" and package_dir["seqfw.experiments"] == "experiments"
    groups = sorted(".".join(d.relative_to(REPO / "conf").parts) for d in (REPO / "conf").rglob("*")
                    if d.is_dir() and list(d.glob("*.yaml")) and not d.name.startswith(("_", ".")))
    assert len(groups) >= 4
    missing = [g for g in groups if f"seqfw.conf.{g}" not in packages]
    assert not missing, f"pyproject [tool.setuptools] packages lacks seqfw.conf.{missing}"
    for pkg in ["seqfw.conf", "seqfw.experiments", *(f"seqfw.conf.{g}" for g in groups)]:
        assert pkg in packages, pkg
        assert "*.yaml" in package_data.get(pkg, []), pkg
    # each listed group really holds YAML, and no listed conf package is stale
    for g in groups:
        assert list((REPO / "conf" / g.replace(".", "/")).glob("*.yaml")), g
    listed = sorted(p.removeprefix("seqfw.conf.") for p in packages if p.startswith("seqfw.conf."))
    assert listed == groups
    assert list((REPO / "conf").glob("config.yaml")) and list((REPO / "experiments").glob("*.yaml"))
    # every seqfw sub-package with modules is shipped
    code = sorted("seqfw." + d.name for d in (REPO / "seqfw").iterdir() if (d / "__init__.py").is_file())
    assert set(code) <= set(packages)
