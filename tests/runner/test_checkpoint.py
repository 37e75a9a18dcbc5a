"""Checkpoints are untrusted input: arrays only, validated before use, refused with one clear message."""
import subprocess
import sys

import numpy as np
import pytest

from seqfw.runner.checkpoint import load_checkpoint, restore_params, save_checkpoint
from seqfw import recurrent
from seqfw.engine.tree import flatten


@pytest.fixture
def good(tmp_path):
    net = recurrent("lstm", 3, 4)
    params = net.init_params(np.random.default_rng(0), np, np.float32)
    path = save_checkpoint(tmp_path / "ck.npz", params, step=7, config="seed: 0\n")
    return net, params, path


def rewrite(path, out, **changes):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez(out, **arrays)
    return out


def test_round_trip_restores_every_parameter(good, tmp_path):
    net, params, path = good
    ck = load_checkpoint(path)
    assert ck["step"] == 7 and ck["config"] == "seed: 0\n"
    fresh = net.init_params(np.random.default_rng(1), np, np.float32)
    restore_params(fresh, ck["params"])
    saved, restored = flatten(params), flatten(fresh)
    assert saved.keys() == restored.keys() and len(saved) == 3
    for k in saved:
        np.testing.assert_array_equal(restored[k], saved[k])
    assert not list(tmp_path.glob("*.tmp.npz"))  # written under a temporary name, then moved


class _Payload:
    """Unpickling this would create a file: the proof that loading runs no code."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_payload_is_refused_and_runs_nothing(good, tmp_path):
    _, _, path = good
    _Payload.marker = tmp_path / "pwned"
    bad = rewrite(path, tmp_path / "bad.npz", **{"params/layers.0.fwd.W_h": np.array([_Payload()], dtype=object)})
    with pytest.raises(ValueError, match="refusing checkpoint .*Object arrays cannot be loaded"):
        load_checkpoint(bad)
    assert not _Payload.marker.exists()


@pytest.mark.parametrize("name, make, message", [
    ("truncated", lambda p, out: out.write_bytes(p.read_bytes()[:2000]) and out, "truncated or corrupt"),
    ("not-npz", lambda p, out: out.write_text("seed: 0\n") and out, "is not an .npz archive"),
    ("no-tag", lambda p, out: rewrite(p, out, format=np.array("something-else")), "format tag"),
    ("int-params", lambda p, out: rewrite(p, out, **{"params/layers.0.fwd.b": np.arange(16)}), "dtype int64"),
    ("text-params", lambda p, out: rewrite(p, out, **{"params/layers.0.fwd.b": np.array(["x"] * 16)}), "dtype <U1"),
    ("nan-params", lambda p, out: rewrite(p, out, **{"params/layers.0.fwd.b": np.full(16, np.nan)}), "NaN or infinite"),
    ("bad-step", lambda p, out: rewrite(p, out, step=np.array(-3)), "not a count"),
    ("bad-config", lambda p, out: rewrite(p, out, config=np.arange(3)), "config is not text"),
])
def test_crafted_or_damaged_checkpoints_are_refused(good, tmp_path, name, make, message):
    _, _, path = good
    bad = make(path, tmp_path / f"{name}.npz")
    with pytest.raises(ValueError, match=message) as err:
        load_checkpoint(bad)
    assert "Use a checkpoint that seqfw wrote" in str(err.value)


def test_names_and_shapes_are_checked_against_the_model(good, tmp_path):
    net, params, path = good
    ck = load_checkpoint(path)
    other = recurrent("lstm", 3, 5).init_params(np.random.default_rng(0), np, np.float32)
    with pytest.raises(ValueError, match=r"W_x has shape \(3, 16\), the model needs \(3, 20\)"):
        restore_params(other, ck["params"])
    gru = recurrent("gru", 3, 4).init_params(np.random.default_rng(0), np, np.float32)
    with pytest.raises(ValueError, match="checkpoint does not match the model"):
        restore_params(gru, {**ck["params"], "layers.0.fwd.extra": np.zeros(2)})


def test_the_sampler_refuses_a_bad_file_without_a_traceback_or_a_store(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    for source, text in (("x.npz", "truncated or corrupt"), ("missing.npz", "no such checkpoint file"),
                         ("0123456789abcdef0123456789abcdef", "there is no MLflow store")):
        out = subprocess.run([sys.executable, "-m", "seqfw.sample", source], capture_output=True, text=True,
                             cwd=tmp_path, timeout=120)
        assert out.returncode == 2 and text in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "mlflow.db").exists()
