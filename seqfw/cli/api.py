"""Experiments from Python: ``seqfw.run([...])`` trains one configured run in this process.

    import seqfw
    trained = seqfw.run(["cell=gru", "task=char_lm", "train.steps=300"])
    trained.metrics, trained.run_id, trained.link
    trained.sample(5)                              # a language model's samples; .score(text), .predict(texts)

The overrides are the command line's, and they meet the same checks in the same order: the
command-line checks of ``python -m seqfw`` (``main.preflight``), a new output directory of its
own (``launch.prepare``), composition by Hydra's compose API with the same config tree, the
interpolation check, then ``seqfw.runner.loop.fit``, which tracks the run in MLflow exactly as
the command line does (Hydra's ``.hydra/`` files are written the way ``hydra.main`` writes them,
and logged with it). A bad setting raises the ``SeqfwError`` whose message the command line
would print; Ctrl-C (a notebook's "interrupt") stops after the current step, saves the state and
raises ``KeyboardInterrupt`` saying what was kept. Sweeps stay on the command line
(``python -m seqfw --multirun``); from Python, call ``seqfw.run`` in a loop.
"""
from __future__ import annotations

import copy
import signal
from pathlib import Path
from typing import Sequence

from ..runner.settings import ConfigError
from ..runner.trained import Trained


def run(overrides: Sequence[str] = ()) -> Trained:
    """Train the run ``overrides`` configure (``["cell=lstm", "topology=bidir", "train.steps=200"]``) and
    return it as a ``Trained``: its final metrics, run id, link, and the model ready to sample from or
    score with."""
    from ..runner.life import SIGNALS, STOPS, Interrupted, held_directories, release_directory
    from ..runner.loop import fit
    from ..runner.trained import from_result
    from .launch import prepare, release_unused
    from .main import interrupted, preflight, run_context

    argv = checked_overrides(overrides)
    handlers = {sig: signal.getsignal(sig) for sig in STOPS}  # a notebook's own, put back afterwards
    held = held_directories()
    cfg = None
    try:
        preflight(argv)
        cfg, hc = compose(argv + prepare(argv))
        result = fit(cfg, run_context(hc))
    except Interrupted as stop:
        tracked = cfg is None or cfg.tracking.name == "mlflow"
        raise KeyboardInterrupt(interrupted(stop, tracked, "overrides")) from None
    except BaseException:
        release_unused()  # a start refused before anything was written leaves no empty directory
        SIGNALS.take_pending()  # a Ctrl-C while the failed run was being closed: said by this error, not the next run
        raise
    finally:
        SIGNALS.restore(handlers)
        for directory in held_directories() - held:  # the run is over: a later resume, here or elsewhere, may take it
            release_directory(directory)
        forget_hydra()
    if (signum := SIGNALS.take_pending()) is not None:  # Ctrl-C while the finished run was being stored
        where = f"the MLflow run {result.run_id} is FINISHED" if result.run_id else "the run finished"
        raise KeyboardInterrupt(f"interrupted by {signal.Signals(signum).name} after the last step: {where}, nothing "
                                f"was lost; seqfw.load({str(result.run_id or result.checkpoint)!r}) gives it back.")
    return from_result(cfg, result)


def forget_hydra() -> None:
    """Leave no run's Hydra config behind as the process's current one (``HydraConfig.get()``)."""
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().cfg = None


def checked_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides as a list of strings; a flag or a sweep is refused with what to do instead."""
    if isinstance(overrides, str):
        raise ConfigError(f"seqfw.run takes a list of overrides, e.g. seqfw.run([\"cell=gru\", \"train.steps=100\"]), "
                          f"not one string; got {overrides!r}")
    argv = list(overrides)
    for arg in argv:
        if not isinstance(arg, str):
            raise ConfigError(f"seqfw.run takes overrides as strings such as \"train.steps=100\"; got {arg!r} "
                              f"({type(arg).__name__})")
        if arg.lstrip("+~").startswith(("hydra/sweeper=", "hydra/launcher=")):
            raise ConfigError(f"{arg}: a sweeper or launcher runs sweeps, and seqfw.run trains one run in this "
                              "process; use python -m seqfw --multirun for it.")
        if arg.startswith("-"):
            raise ConfigError(f"seqfw.run takes overrides (key=value, group=option), not the flag {arg!r}. For "
                              "--multirun, call seqfw.run in a loop or use python -m seqfw --multirun; for "
                              "--cfg or --help, use the command line.")
    if sweep := _first_sweep(argv):
        raise ConfigError(f"{sweep} is a sweep (several values), and seqfw.run trains one run: give one value, "
                          "call seqfw.run once per value in a loop, or use python -m seqfw --multirun.")
    return argv


def _first_sweep(argv: list[str]) -> str | None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for text in argv:
        try:
            if parser.parse_overrides([text])[0].is_sweep_override():
                return text
        except HydraException:  # said by the command-line checks, in their words
            return None
    return None


def compose(argv: list[str]):
    """``(job config, Hydra config)`` composed from ``conf/`` as ``hydra.main`` would, with ``hydra.runtime``
    filled in and Hydra's ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` written."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from omegaconf import open_dict, read_write
    from omegaconf.errors import OmegaConfBaseException

    from .preflight import check_resolvable
    from .schema import conf_dir

    if GlobalHydra.instance().is_initialized():
        raise ConfigError("seqfw.run composes seqfw's own configs, but Hydra is already initialized in this "
                          "process (an open hydra.initialize(...) block); call seqfw.run outside it, or after "
                          "GlobalHydra.instance().clear().")
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3", job_name="seqfw"):
            cfg = hydra_compose("config", overrides=argv, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"the overrides do not compose: {str(err).strip()}") from None
    if sweep := dict(cfg.hydra.sweeper.get("params") or {}):  # an experiment=... that is a sweep
        raise ConfigError(f"this config is a sweep over {', '.join(sweep)} (hydra.sweeper.params, set by "
                          f"{cfg.hydra.runtime.choices.get('experiment') or 'the overrides'}), and seqfw.run trains "
                          "one run: run it with python -m seqfw --multirun, or give one value of each here.")
    out = Path(cfg.hydra.run.dir)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out.resolve())
    HydraConfig.instance().set_config(cfg)  # for ${hydra:...} in the job's keys
    hydra_node = cfg.hydra
    job = copy.deepcopy(cfg)  # the job's config without the hydra node, as hydra.main hands it over
    with read_write(job), open_dict(job):
        del job["hydra"]
    _save_hydra_files(out, job, hydra_node, list(hydra_node.overrides.task))
    check_resolvable(job)
    return job, hydra_node


def _save_hydra_files(out: Path, job, hydra_node, overrides: list[str]) -> None:
    from omegaconf import OmegaConf

    files = out / ".hydra"
    files.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(job, files / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": hydra_node}), files / "hydra.yaml")
    OmegaConf.save(OmegaConf.create(overrides), files / "overrides.yaml")

