"""One source of truth for every default: the engine's, the config schemas' and the YAML's agree.

Each default is declared once (docs/architecture.md, "One owner per seam"); these tests fail
if a second copy appears and drifts: a value in conf/optim/*.yaml, a constructor default that
differs from its options dataclass, a schema default that differs from the engine's.
"""
import dataclasses
import inspect

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from seqfw import cell_registry, get_backend, recurrent
from seqfw.cli.schema import conf_dir, default_choices, register_configs
from seqfw.engine.optim import OPTIMIZERS, defaults, make_optimizer
from seqfw.engine.recurrence import stack
from seqfw.runner.config import BackendConf, TopologyConf
from seqfw.runner.settings import TrainSettings

BUILTIN_CELLS = ["rnn", "gru_simple", "gru", "lstm"]


@pytest.fixture(scope="module")
def make():
    register_configs()

    def compose_(overrides=()):
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)

    return compose_


def signature_defaults(fn, names) -> dict:
    params = inspect.signature(fn).parameters
    return {n: params[n].default for n in names}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_defaults_are_the_engines_in_the_schema_and_the_yaml(make, name):
    engine = defaults(name)
    composed = OmegaConf.to_container(make([f"optim={name}"]).optim)
    assert composed == {"name": name, **engine}
    yaml = OmegaConf.to_container(OmegaConf.load(conf_dir() / "optim" / f"{name}.yaml"))
    assert set(yaml) == {"defaults"}, f"conf/optim/{name}.yaml sets {sorted(set(yaml) - {'defaults'})}: " \
                                      "declare defaults in seqfw/engine/optim.py only"
    opt = make_optimizer(name, {"w": __import__("numpy").zeros(2)})  # no options: the same defaults
    assert dataclasses.asdict(opt.settings) == engine


def test_the_documented_optimizer_defaults():
    assert defaults("adam") == {"lr": 0.005, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert defaults("sgd") == {"lr": 0.1, "momentum": 0.0}
    assert defaults("adagrad") == {"lr": 0.05, "eps": 1e-10}
    assert defaults("rmsprop") == {"lr": 0.005, "rho": 0.99, "eps": 1e-8}


@pytest.mark.parametrize("name", BUILTIN_CELLS)
def test_cell_option_defaults_are_the_constructors(make, name):
    spec = cell_registry()[name]
    options = dataclasses.asdict(spec.config()) if spec.config else {}
    assert signature_defaults(spec.cls.__init__, options) == options
    composed = OmegaConf.to_container(make([f"cell={name}"]).cell)
    assert composed == {"name": name, "hidden_size": 64, **options}


def test_topology_defaults_are_the_engines(make):
    keys = ["num_layers", "bidirectional", "dropout"]
    schema = {k: getattr(TopologyConf(), k) for k in keys}
    assert signature_defaults(stack, keys) == schema == signature_defaults(recurrent, keys)
    composed = make(["topology=many_to_many"]).topology
    assert {k: composed[k] for k in keys} == schema


def test_backend_and_loop_defaults(make):
    assert signature_defaults(get_backend, ["name", "dtype"]) == dataclasses.asdict(BackendConf())
    assert OmegaConf.to_container(make().train) == dataclasses.asdict(TrainSettings())


def test_default_choices_are_read_from_the_config_tree(make):
    choices = make().hydra.runtime.choices
    assert default_choices() == {g: choices[g] for g in default_choices()}
    assert default_choices()["cell"] == "lstm" and default_choices()["optim"] == "adam"
