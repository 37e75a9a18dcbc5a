"""Checkpoints as plain ``.npz`` archives: arrays only, loaded with ``allow_pickle=False``.

A checkpoint may come from someone else, so nothing in it is trusted, and every field is
checked before it is used: the file itself (a regular file, never a pipe that would block a
reader), every array's declared size against the bytes the archive really holds (before any
array is allocated), the format tag, the parameters (finite floats), the step and the config
text (``load_checkpoint``); the embedded config against the command line's own schemas
(``checkpoint_config``); the network it describes against the parameters in the file, before
anything is built (``check_sizes``). The training state is checked where it is restored
(``seqfw.runner.resume``).
"""
from __future__ import annotations

import math
import os
import re
import stat
import typing
import zipfile
from pathlib import Path

import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..engine.backend import to_host
from ..engine.errors import SeqfwError
from ..engine.optim import OPTIMIZERS
from ..engine.tree import flatten
from ..plugins.registry import cell_registry, make_cell, registry, task_registry, unavailable
from .config import CELL_SIZE, FIXED, optim_schema, option_schema, unknown_keys
from .provenance import from_text, install_hint

FORMAT = "seqfw-checkpoint-1"
HINT = "Use a checkpoint that seqfw wrote (a run's checkpoints/checkpoint.npz, or the run id)."
GROUPS = ("cell", "topology", "backend", "task", "optim", "tracking", "train")  # a run config's sections


class CheckpointError(SeqfwError, ValueError):
    """A file that is not a usable seqfw checkpoint (or not for this model); the message says why."""


def save_checkpoint(path: Path, params, step: int, config: str = "", state: dict | None = None,
                    sources: str = "") -> Path:
    """Write every parameter under ``params/<dotted.path>`` plus the step, the config text and a format tag;
    ``state`` (``{name: array}``: optimizer moments, random-generator states...) goes under ``state/<name>``;
    ``sources`` (``seqfw.runner.provenance``: which packages supplied the cell and task) as text."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"params/{k}": to_host(v) for k, v in flatten(params).items()}
    arrays.update({f"state/{k}": np.asarray(to_host(v)) for k, v in (state or {}).items()})
    if sources:
        arrays["sources"] = np.array(sources)
    tmp = path.with_suffix(".tmp.npz")
    try:
        np.savez(tmp, **arrays, step=np.array(step), config=np.array(config), format=np.array(FORMAT))
        tmp.replace(path)  # never leave a half-written checkpoint under the real name
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk, a signal: no stray half-written temporary either
        raise
    return path


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be a checkpoint file, or None; found with ``stat`` alone, since opening a named
    pipe for reading would wait for a writer forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if stat.S_ISDIR(mode):
        inside = Path(path) / "checkpoint.npz"
        return ("is a directory, not a checkpoint file" +
                (f" (did you mean {inside}?)" if inside.is_file() else " (a run's checkpoint is its checkpoint.npz)"))
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a checkpoint file; seqfw reads checkpoints from regular files only"
    if not stat.S_ISREG(mode):
        return "is a device or socket, not a checkpoint file"
    return None


def load_checkpoint(path: Path) -> dict:
    """``{"params": {path: array}, "step": int, "config": str, "state": {name: array}}``; refuses anything
    but a seqfw checkpoint.

    It must be a zip archive of ``.npy`` arrays (read with ``allow_pickle=False``: no object
    arrays, no code), each array holding exactly the bytes its header declares, carry seqfw's
    format tag, hold only finite floating-point parameters, an integer step and a text config
    (which the caller parses as YAML data, ``checkpoint_config``, never evaluates).
    """
    path = Path(path)
    if problem := not_a_file(path):
        raise CheckpointError(f"checkpoint {path} {problem}. {HINT}")
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise CheckpointError(f"checkpoint {path} is not an .npz archive. {HINT}")
        with zipfile.ZipFile(path) as archive:
            check_members(archive)
        with np.load(path, allow_pickle=False) as data:
            return _contents(data)
    except CheckpointError as err:
        if str(err).startswith("checkpoint "):  # already a whole message
            raise
        raise CheckpointError(f"refusing checkpoint {path}: {err}. {HINT}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        reason = "it is truncated or corrupt" if isinstance(err, (EOFError, zipfile.BadZipFile)) else str(err)
        raise CheckpointError(f"refusing checkpoint {path}: {reason}. {HINT}") from None


def check_members(archive: zipfile.ZipFile) -> None:
    """Every member is an uncompressed ``.npy`` array whose header declares exactly the bytes it holds.

    Read before any array is: numpy allocates an array as its header says, so a few-kB file
    declaring a (10**12,)-element array would otherwise fail with a MemoryError, or eat the
    machine's memory. Compressed members are refused for the same reason (a small deflated
    member can declare any size); ``np.savez``, which seqfw uses, never compresses."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if not info.filename.endswith(".npy"):
            raise CheckpointError(f"it holds {info.filename!r}, which is not an array")
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(f"its array {name} is compressed; seqfw writes uncompressed archives")
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in readers:
                raise CheckpointError(f"its array {name} is in .npy format version {version}, which seqfw never writes")
            shape, _, dtype = readers[version](member)
            if dtype.hasobject:
                continue  # np.load refuses object arrays itself (allow_pickle=False), with numpy's own words
            declared, held = math.prod(shape) * dtype.itemsize, info.file_size - member.tell()
        if declared != held:
            raise CheckpointError(f"its array {name} declares shape {shape} of {dtype} ({declared:,} bytes) but "
                                  f"holds {held:,} bytes")


def _contents(data) -> dict:
    """The checked fields of an open archive (``load_checkpoint``)."""
    if "format" not in data.files or str(data["format"]) != FORMAT:
        raise CheckpointError(f"it has no {FORMAT!r} format tag")
    for key in ("step", "config"):
        if key not in data.files:
            raise CheckpointError(f"it has no {key}")
    params = {}
    for key in (k for k in data.files if k.startswith("params/")):
        value, name = data[key], key[len("params/"):]
        if value.dtype.kind != "f":
            raise CheckpointError(f"parameter {name} has dtype {value.dtype}; parameters are floating point")
        if not np.isfinite(value).all():
            raise CheckpointError(f"parameter {name} holds NaN or infinite values")
        params[name] = value
    state = {}
    for key in (k for k in data.files if k.startswith("state/")):
        value, name = data[key], key[len("state/"):]
        if value.dtype.kind not in "fiuU" or value.dtype.kind == "f" and not np.isfinite(value).all():
            raise CheckpointError(f"training state {name} is not finite numbers or text")
        state[name] = value
    step, config = data["step"], data["config"]
    if step.shape != () or step.dtype.kind not in "iu" or int(step) < 0:
        raise CheckpointError(f"its step is {step!r}, not a count")
    if config.shape != () or config.dtype.kind != "U":
        raise CheckpointError("its config is not text")
    sources = data["sources"] if "sources" in data.files else np.array("")
    sources = str(sources) if sources.shape == () and sources.dtype.kind == "U" else ""  # only ever a hint
    return {"params": params, "step": int(step), "config": str(config), "state": state, "sources": sources}


def restore_params(params, saved: dict, xp=np) -> None:
    """Copy ``saved`` ({dotted.path: array}) into the tree ``params`` in place, checking names and shapes."""
    target = flatten(params)
    missing, extra = sorted(target.keys() - saved.keys()), sorted(saved.keys() - target.keys())
    if missing or extra:
        raise CheckpointError(f"checkpoint does not match the model: missing {missing or 'nothing'}, "
                         f"unexpected {extra or 'nothing'}")
    for k, p in target.items():
        if tuple(saved[k].shape) != tuple(p.shape):
            raise CheckpointError(f"checkpoint parameter {k} has shape {saved[k].shape}, the model needs {p.shape}")
        p[...] = xp.asarray(saved[k], dtype=p.dtype)


# -- the embedded config -----------------------------------------------------------------------------


def checkpoint_config(text: str, source, sources: str = "") -> DictConfig:
    """The checkpoint's config, parsed as YAML data and checked against the very schemas the command line
    uses, so a bad value is reported with its key as the CLI would (``cell.hidden_size must be a whole
    number, got 'abc'``); returns it resolved and typed, each section's missing keys at their defaults.
    A cell or task that is not installed is named with the package the checkpoint's ``sources`` say
    supplied it."""
    where = f"checkpoint {source}: its config"
    tree = _yaml_mapping(text, where)
    missing = [g for g in GROUPS if g not in tree]
    if missing:
        raise CheckpointError(f"{where} has no {', '.join(missing)} section{'s' if len(missing) > 1 else ''}; "
                              f"a run's config has {', '.join(GROUPS)}. {HINT}")
    for group in GROUPS:
        if not isinstance(tree[group], dict):
            raise CheckpointError(f"{where}'s {group} is {tree[group]!r}, not a mapping of settings. {HINT}")
    cfg = OmegaConf.create(tree)
    found = from_text(sources)
    schemas = {group: _schema(group, tree[group].get("name"), where, found) for group in GROUPS}
    if extra := unknown_keys(cfg):
        raise CheckpointError(f"{where} has unknown key{'s' if len(extra) > 1 else ''} {', '.join(extra)}: no "
                              f"schema declares {'them' if len(extra) > 1 else 'it'}. {HINT}")
    top = _typed(FIXED[""], {k: v for k, v in tree.items() if k not in (*GROUPS, "hydra")}, "", where)
    sections = {group: _typed(schemas[group], tree[group], group, where) for group in GROUPS}
    return OmegaConf.create({**{k: v for k, v in top.items() if k not in GROUPS}, **sections})


def _yaml_mapping(text: str, where: str) -> dict:
    """The config text as plain data; refuses invalid YAML, anything but a mapping, aliases (a few kB of
    nested aliases expand to gigabytes) and interpolations that do not resolve."""
    try:
        if any(isinstance(t, yaml.AliasToken) for t in yaml.scan(text, Loader=yaml.SafeLoader)):
            raise CheckpointError(f"{where} uses YAML aliases, which seqfw never writes. {HINT}")
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as err:
        raise CheckpointError(f"{where} is not valid YAML ({_yaml_problem(err)}). {HINT}") from None
    if not isinstance(data, dict):
        kind = "an empty text" if data is None else f"a YAML {type(data).__name__} ({str(data)[:40]!r})"
        raise CheckpointError(f"{where} is {kind}, not a mapping of settings. {HINT}")
    try:  # OmegaConf's own YAML reading (1e-3 is a number there), then every interpolation resolved
        return OmegaConf.to_container(OmegaConf.create(text), resolve=True)
    except (OmegaConfBaseException, yaml.YAMLError, ValueError, AssertionError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{where} cannot be read as settings ({first}). {HINT}") from None


def _yaml_problem(err: Exception) -> str:
    """PyYAML's complaint in one line: what, and where in the config text."""
    mark, problem = getattr(err, "problem_mark", None), getattr(err, "problem", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _schema(group: str, option, where: str, found: dict) -> type:
    """The schema the command line composes ``group=<option>`` with (``seqfw.cli.schema`` stores the same)."""
    if group in FIXED:
        return FIXED[group]
    known = {"cell": cell_registry(), "task": task_registry(), "optim": OPTIMIZERS}[group]
    if isinstance(option, str) and option not in known and group in ("cell", "task"):
        if option in registry(group).owners or option in registry(group).failed:  # installed, but set aside
            raise CheckpointError(f"{where} names {group}={option}: {unavailable(group, option)}")
        if hint := install_hint(group, option, found):
            raise CheckpointError(f"{where} names {group}={option}: {hint}.")
    if not isinstance(option, str) or option not in known:
        raise CheckpointError(f"{where} names {group}={option!r}, which is not installed here (choose from "
                              f"{', '.join(sorted(known))}). {HINT}")
    if group == "optim":
        return optim_schema(option)
    return option_schema(option, known[option].config, [CELL_SIZE] if group == "cell" else [])


def _typed(schema: type, node: dict, group: str, where: str) -> dict:
    """``node`` merged onto ``schema`` (types converted, defaults filled); a value of the wrong type is
    refused naming its key."""
    base = OmegaConf.structured(schema)
    try:
        merged = OmegaConf.merge(base, node)
    except OmegaConfBaseException as err:
        key = f"{group}.{err.full_key}" if group else str(err.full_key)
        option = f" ({group}={node.get('name')})" if group in ("cell", "task", "optim") else ""
        what = _what(typing.get_type_hints(schema).get(str(err.full_key).split(".")[0]))
        raise CheckpointError(f"{where}'s {key} must be {what}, got {getattr(err, 'value', None)!r}{option}. "
                              f"{HINT}") from None
    return OmegaConf.to_container(merged, resolve=True)


def _what(kind) -> str:
    """A type as the command line's messages say it (``seqfw.cli.preflight`` words them the same)."""
    args = typing.get_args(kind)
    base = next((a for a in args if a is not type(None)), kind) if args else kind
    words = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(base, "a valid value")
    return words + (" or null" if type(None) in args else "")


# -- the model the config describes, against the parameters in the file ---------------------------------


def check_depth(cfg, params: dict, source) -> None:
    """Refuse a config asking for more layers than the file holds parameters for, before a single layer
    object is built (a million-layer config would take minutes to build, then be refused)."""
    layers: dict[str, set[str]] = {}
    for name in params:
        for m in re.finditer(r"(?:^|\.)layers\.(\d+)\.", name):
            layers.setdefault(name[: m.start()], set()).add(m.group(1))
    have = max((len(v) for v in layers.values()), default=1)  # distinct indices: bounded by the file
    if cfg.topology.num_layers > have:
        raise CheckpointError(f"checkpoint {source}: its config says topology.num_layers={cfg.topology.num_layers}, "
                              f"but the file holds parameters for {have} layer{'s' if have > 1 else ''}: the config "
                              f"and the parameters do not belong together. {HINT}")


def check_sizes(cfg, params: dict, source) -> None:
    """Refuse a config whose network alone needs more parameters than the file holds in all, before anything
    is built: a few-kB checkpoint whose config says ``cell.hidden_size: 1000000`` must not take terabytes.

    Counted from one cell's declared shapes (nothing allocated), times the layers and directions,
    with the first layer reading ``task.embed_dim`` and the others ``hidden_size``: never more than
    the real network, whose parameters the file holds besides the embeddings and the head. The
    exact names and shapes are checked after the build (``restore_params``)."""
    check_depth(cfg, params, source)
    need, held = network_floor(cfg), sum(int(a.size) for a in params.values())
    if need is not None and need > held:
        embed = f", task.embed_dim={cfg.task.embed_dim}" if "embed_dim" in cfg.task else ""
        raise CheckpointError(f"checkpoint {source}: its config describes a network of at least {need:,} parameters "
                              f"(cell={cfg.cell.name}, cell.hidden_size={cfg.cell.hidden_size}, topology.num_layers="
                              f"{cfg.topology.num_layers}{embed}), but the file holds {held:,} in all: the config and "
                              f"the parameters do not belong together. {HINT}")


def network_floor(cfg) -> int | None:
    """The fewest parameters the configured network can have; None where a size or option is bad (the
    build then reports it under its key)."""
    H, L = cfg.cell.hidden_size, cfg.topology.num_layers
    options = {k: v for k, v in cfg.cell.items() if k not in ("name", "hidden_size")}
    try:
        def cell(input_size: int) -> int:
            specs = make_cell(cfg.cell.name, input_size, H, **options).param_specs()
            return sum(math.prod(spec.shape) for spec in specs.values())

        first = cfg.task.embed_dim if "embed_dim" in cfg.task else 1
        if isinstance(L, bool) or not isinstance(L, int) or L < 1:
            return None
        return (2 if cfg.topology.bidirectional else 1) * (cell(first) + (L - 1) * cell(H))
    except SeqfwError:
        return None
