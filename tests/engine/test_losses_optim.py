"""Losses (values, gradients, masking), optimizers and gradient clipping.

Values are checked against direct formulas (and PyTorch where installed),
gradients by central finite differences in float64, optimizers step for step
against torch.optim with the same hyperparameters. Tests that need torch skip
on their own; the finite-difference and validation tests never need it.
"""
from __future__ import annotations

import numpy as np
import pytest

from seqfw.engine.losses import mse, sigmoid_cross_entropy, softmax_cross_entropy
from seqfw.engine.errors import SettingError
from seqfw.engine.optim import (
    SGD,
    Adagrad,
    Adam,
    RMSProp,
    clip_by_global_norm,
    clip_by_value,
    global_norm,
    make_optimizer,
)
from seqfw.testing import numerical_grad, rel_error
from seqfw.engine.tree import flatten, tree_map

T, B, V, K = 4, 3, 5, 2
MASK = np.array([[1, 1, 1], [1, 0, 1], [1, 0, 1], [0, 0, 1]], dtype=bool)  # (T, B): lengths 3, 1, 4


def need_torch():
    return pytest.importorskip("torch", reason="PyTorch is the reference here; install torch==2.13.0 (CPU)")


def data(kind, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "softmax":
        return rng.standard_normal((T, B, V)) * 2.0, rng.integers(0, V, size=(T, B))
    if kind == "sigmoid":
        return rng.standard_normal((T, B, K)) * 2.0, rng.uniform(0, 1, size=(T, B, K))  # soft targets
    return rng.standard_normal((T, B, K)), rng.standard_normal((T, B, K))


LOSSES = {"softmax": softmax_cross_entropy, "sigmoid": sigmoid_cross_entropy, "mse": mse}


def reference_per_position(kind, z, y):
    """Direct NumPy formula, per position (T, B), summed over classes/units."""
    if kind == "softmax":
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        return -np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    if kind == "sigmoid":
        p = 1 / (1 + np.exp(-z))
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=-1)
    return ((z - y) ** 2).sum(axis=-1)


def torch_per_position(kind, zt, y):
    torch = need_torch()
    F = torch.nn.functional
    if kind == "softmax":
        return F.cross_entropy(zt.reshape(-1, V), torch.tensor(y).reshape(-1), reduction="none").reshape(T, B)
    if kind == "sigmoid":
        return F.binary_cross_entropy_with_logits(zt, torch.tensor(y), reduction="none").sum(-1)
    return F.mse_loss(zt, torch.tensor(y), reduction="none").sum(-1)


# ----------------------------------------------------------------------------- losses, torch-free
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("kind", list(LOSSES))
def test_loss_value_matches_formula(kind, masked):
    z, y = data(kind)
    mask = MASK if masked else None
    value, grad = LOSSES[kind](z.copy(), y, mask)
    assert isinstance(value, float)
    assert grad.shape == z.shape and grad.dtype == z.dtype
    per = reference_per_position(kind, z, y)
    expected = (per * (MASK if masked else 1)).sum() / B  # sum over time, mean over batch
    assert abs(value - expected) <= 1e-12 * abs(expected)
    if masked:  # and it is not the unmasked value
        assert abs(value - per.sum() / B) > 1e-3


@pytest.mark.parametrize("mask_shape", ["none", "TB", "TB1"])
@pytest.mark.parametrize("kind", list(LOSSES))
def test_loss_gradient_by_finite_differences(kind, mask_shape):
    z, y = data(kind, seed=1)
    mask = {"none": None, "TB": MASK, "TB1": MASK[..., None]}[mask_shape]
    fn = LOSSES[kind]
    _, grad = fn(z.copy(), y, mask)
    num = numerical_grad(lambda: fn(z, y, mask)[0], z, eps=1e-6)
    assert np.abs(num).max() > 1e-3
    err = rel_error(grad, num)
    assert err <= 1e-8, f"{kind}: gradient relative error {err:.3e}"
    if mask is not None:
        assert np.all(grad[~MASK] == 0), "masked positions must get exactly zero gradient"
        assert np.all(np.abs(grad[MASK]).sum(axis=-1) > 0)


@pytest.mark.parametrize("kind", list(LOSSES))
def test_loss_without_time_axis_means_over_batch(kind):
    """(B, V) input: B is the axis before the last one, so the value is a plain batch mean."""
    z, y = data(kind, seed=2)
    z2, y2 = z[0].copy(), y[0].copy()
    value, grad = LOSSES[kind](z2.copy(), y2)
    per = reference_per_position(kind, z2[None], y2[None])[0]  # (B,)
    assert abs(value - per.mean()) <= 1e-12 * abs(per.mean())
    num = numerical_grad(lambda: LOSSES[kind](z2, y2)[0], z2)
    assert rel_error(grad, num) <= 1e-8


def test_all_masked_gives_zero_loss_and_gradient():
    z, y = data("softmax")
    value, grad = softmax_cross_entropy(z, y, np.zeros((T, B), dtype=bool))
    assert value == 0.0 and np.all(grad == 0)


def test_losses_are_stable_for_huge_logits():
    z = np.array([[800.0, -800.0, 0.0]])  # (B=1, V=3)
    value, grad = softmax_cross_entropy(z.copy(), np.array([1]))
    assert value == pytest.approx(1600.0, rel=1e-12)
    np.testing.assert_allclose(grad, [[1.0, -1.0, 0.0]], atol=1e-12)
    zs = np.array([[800.0, -800.0]])  # (B=1, K=2), targets 0 and 1: both wrong
    value, grad = sigmoid_cross_entropy(zs.copy(), np.array([[0.0, 1.0]]))
    assert value == pytest.approx(1600.0, rel=1e-12)
    np.testing.assert_allclose(grad, [[1.0, -1.0]], atol=1e-12)
    value, _ = sigmoid_cross_entropy(zs.copy(), np.array([[1.0, 0.0]]))  # both right
    assert 0 <= value < 1e-300 or value == 0.0


def test_softmax_cross_entropy_float32_keeps_dtype():
    z, y = data("softmax")
    value, grad = softmax_cross_entropy(z.astype(np.float32), y, MASK)
    ref, _ = softmax_cross_entropy(z, y, MASK)
    assert grad.dtype == np.float32
    assert abs(value - ref) <= 1e-5 * abs(ref)


# ----------------------------------------------------------------------------- losses vs torch
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("kind", list(LOSSES))
def test_loss_matches_torch(kind, masked):
    torch = need_torch()
    z, y = data(kind, seed=3)
    mask = MASK if masked else None
    value, grad = LOSSES[kind](z.copy(), y, mask)
    zt = torch.tensor(z, requires_grad=True)
    per = torch_per_position(kind, zt, y)
    if masked:
        per = per * torch.tensor(MASK, dtype=per.dtype)
    loss = per.sum() / B
    loss.backward()
    assert abs(value - loss.item()) <= 1e-12 * abs(loss.item())
    assert rel_error(grad, zt.grad.numpy()) <= 1e-12


# ----------------------------------------------------------------------------- optimizers
def make_tree(rng):
    """A nested tree like a network's: lists, dicts, several shapes."""
    return {
        "layers": [
            {"fwd": {"W_x": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)},
             "bwd": {"W_x": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}},
            {"fwd": {"W_h": rng.standard_normal((2, 2))}},
        ],
        "head": {"W": rng.standard_normal((5, 2)), "b": rng.standard_normal(2)},
    }


OPTIMIZERS = {
    "sgd": (SGD, {"lr": 0.1}, "SGD", {"lr": 0.1}),
    "sgd_momentum": (SGD, {"lr": 0.05, "momentum": 0.9}, "SGD", {"lr": 0.05, "momentum": 0.9}),
    "adagrad": (Adagrad, {"lr": 0.3, "eps": 1e-6}, "Adagrad", {"lr": 0.3, "eps": 1e-6}),
    "rmsprop": (RMSProp, {"lr": 0.02, "rho": 0.8, "eps": 1e-5}, "RMSprop", {"lr": 0.02, "alpha": 0.8, "eps": 1e-5}),
    "adam": (Adam, {"lr": 0.03, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
             "Adam", {"lr": 0.03, "betas": (0.8, 0.95), "eps": 1e-6}),
    # our defaults; all but the learning rates (seqfw's, for its tasks) are PyTorch's too
    "adagrad_default": (Adagrad, {}, "Adagrad", {"lr": Adagrad.Settings.lr}),
    "rmsprop_default": (RMSProp, {}, "RMSprop", {"lr": RMSProp.Settings.lr}),
    "adam_default": (Adam, {}, "Adam", {"lr": Adam.Settings.lr}),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_matches_torch(name):
    torch = need_torch()
    ours_cls, ours_kw, torch_name, torch_kw = OPTIMIZERS[name]
    rng = np.random.default_rng(10)
    params = make_tree(rng)
    start = tree_map(np.copy, params)
    leaves = flatten(params)
    leaf_ids = {k: id(v) for k, v in leaves.items()}
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in leaves.items()}
    topt = getattr(torch.optim, torch_name)(list(tparams.values()), **torch_kw)
    opt = ours_cls(params, **ours_kw)
    grads_seq = [tree_map(lambda a: rng.standard_normal(a.shape), params) for _ in range(5)]
    for step, grads in enumerate(grads_seq):
        g_flat = flatten(grads)
        for k, p in tparams.items():
            p.grad = torch.tensor(g_flat[k].copy())
        topt.step()
        opt.step(grads)
        for k, v in flatten(params).items():
            assert id(v) == leaf_ids[k], f"{k}: updated out of place"
            err = rel_error(v, tparams[k].detach().numpy())
            assert err <= 1e-12, f"step {step + 1}, {k}: relative error {err:.3e}"
    assert opt.t == 5
    moved = flatten(params)
    for k, v in flatten(start).items():
        assert np.abs(moved[k] - v).max() > 1e-4, f"{k} did not move"


def test_optimizer_gradients_are_not_modified():
    rng = np.random.default_rng(11)
    params = make_tree(rng)
    grads = tree_map(lambda a: rng.standard_normal(a.shape), params)
    keep = tree_map(np.copy, grads)
    for cls in (SGD, Adagrad, RMSProp, Adam):
        opt = cls(params, **({"momentum": 0.5} if cls is SGD else {}))
        opt.step(grads)
        opt.step(grads)  # the momentum buffer must not alias the first gradient
        for k, g in flatten(grads).items():
            np.testing.assert_array_equal(g, flatten(keep)[k], err_msg=f"{cls.__name__} changed {k}")


def test_sgd_by_hand_and_momentum_one():
    p = {"w": np.array([1.0, -2.0])}
    g = {"w": np.array([0.5, 1.0])}
    opt = SGD(p, lr=0.1, momentum=1.0)  # the boundary is allowed: v accumulates every gradient
    for _ in range(3):
        opt.step(g)
    # v = g, 2g, 3g -> w -= 0.1 * 6 g
    np.testing.assert_allclose(p["w"], [1.0 - 0.3, -2.0 - 0.6], rtol=0, atol=1e-15)


def test_step_with_missing_gradient_raises():
    params = make_tree(np.random.default_rng(0))
    grads = tree_map(np.zeros_like, params)
    del grads["head"]["b"]
    with pytest.raises(KeyError, match="head.b"):
        Adam(params).step(grads)


@pytest.mark.parametrize("name, cls", [("sgd", SGD), ("adagrad", Adagrad), ("rmsprop", RMSProp), ("adam", Adam)])
def test_make_optimizer_builds_each(name, cls):
    params = make_tree(np.random.default_rng(0))
    opt = make_optimizer(name, params, lr=0.5)
    assert type(opt) is cls and opt.lr == 0.5


# ----------------------------------------------------------------------------- clipping
@pytest.mark.parametrize("max_norm, clips", [(1.5, True), (1e3, False)])
def test_clip_by_global_norm(max_norm, clips):
    rng = np.random.default_rng(20)
    grads = make_tree(rng)
    before = tree_map(np.copy, grads)
    flat_before = flatten(before)
    expected_norm = float(np.sqrt(sum((v**2).sum() for v in flat_before.values())))
    assert global_norm(grads) == pytest.approx(expected_norm, rel=1e-14)
    ids = {k: id(v) for k, v in flatten(grads).items()}

    norm = clip_by_global_norm(grads, max_norm)
    assert norm == pytest.approx(expected_norm, rel=1e-14)  # the pre-clip norm
    after = flatten(grads)
    assert {k: id(v) for k, v in after.items()} == ids  # in place
    if clips:
        assert global_norm(grads) == pytest.approx(max_norm, rel=1e-12)
        for k, v in after.items():
            np.testing.assert_allclose(v, flat_before[k] * (max_norm / expected_norm), rtol=1e-14, err_msg=k)
    else:
        for k, v in after.items():
            np.testing.assert_array_equal(v, flat_before[k], err_msg=k)


@pytest.mark.parametrize("max_norm", [1.5, 1e3])
def test_clip_by_global_norm_matches_torch(max_norm):
    torch = need_torch()
    grads = make_tree(np.random.default_rng(21))
    tensors = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in flatten(grads).values()]
    for t, v in zip(tensors, flatten(grads).values()):
        t.grad = torch.tensor(v.copy())
    tnorm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    norm = clip_by_global_norm(grads, max_norm)
    assert norm == pytest.approx(float(tnorm), rel=1e-13)
    # torch scales by max_norm / (norm + 1e-6) where seqfw scales by max_norm / norm
    factor = norm / (norm + 1e-6) if norm > max_norm else 1.0
    for t, v in zip(tensors, flatten(grads).values()):
        assert rel_error(v * factor, t.grad.numpy()) <= 1e-13


def test_clip_by_value():
    rng = np.random.default_rng(22)
    grads = make_tree(rng)
    before = tree_map(np.copy, grads)
    ids = {k: id(v) for k, v in flatten(grads).items()}
    assert clip_by_value(grads, 0.5) is None
    for k, v in flatten(grads).items():
        assert id(v) == ids[k]
        np.testing.assert_array_equal(v, np.clip(flatten(before)[k], -0.5, 0.5), err_msg=k)
    assert max(np.abs(v).max() for v in flatten(grads).values()) == 0.5  # something was clipped


def test_clip_by_value_matches_torch():
    torch = need_torch()
    grads = make_tree(np.random.default_rng(23))
    tensors = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in flatten(grads).values()]
    for t, v in zip(tensors, flatten(grads).values()):
        t.grad = torch.tensor(v.copy())
    torch.nn.utils.clip_grad_value_(tensors, 0.7)
    clip_by_value(grads, 0.7)
    for t, v in zip(tensors, flatten(grads).values()):
        np.testing.assert_array_equal(v, t.grad.numpy())


# ----------------------------------------------------------------------------- validation
def tiny():
    return {"w": np.zeros(2)}


@pytest.mark.parametrize("cls", [SGD, Adagrad, RMSProp, Adam])
@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf"), True, "0.1", None])
def test_invalid_lr_is_refused(cls, lr):
    with pytest.raises(SettingError, match=f"{cls.__name__}: lr must be a number > 0.0") as info:
        cls(tiny(), lr=lr)
    assert info.value.name == "lr" and info.value.keyed("optim.lr").startswith("optim.lr must be")


@pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan"), False])
def test_invalid_momentum_is_refused(momentum):
    with pytest.raises(SettingError, match=r"momentum must be in \[0, 1\]") as info:
        SGD(tiny(), lr=0.1, momentum=momentum)
    assert info.value.name == "momentum"


@pytest.mark.parametrize("cls, key, value", [
    (Adam, "beta1", 1.2), (Adam, "beta2", -0.5), (Adam, "eps", 0.0),
    (RMSProp, "rho", 1.01), (RMSProp, "eps", -1e-8), (Adagrad, "eps", 0.0),
])
def test_invalid_hyperparameter_names_its_key(cls, key, value):
    with pytest.raises(SettingError, match=f"{cls.__name__}: {key} must be") as info:
        cls(tiny(), **{key: value})
    assert info.value.name == key


@pytest.mark.parametrize("beta", ["beta1", "beta2"])
def test_a_beta_of_one_is_refused_before_it_divides_by_zero(beta):
    with pytest.raises(SettingError, match=rf"{beta} must be in \[0, 1\)"):
        Adam(tiny(), **{beta: 1.0})


@pytest.mark.parametrize("threshold", [0.0, -1.0, float("nan")])
def test_invalid_clip_threshold_is_refused(threshold):
    with pytest.raises(ValueError, match="max_norm"):
        clip_by_global_norm(tiny(), threshold)
    with pytest.raises(ValueError, match="limit"):
        clip_by_value(tiny(), threshold)


def test_unknown_optimizer_name_is_refused():
    with pytest.raises(ValueError, match="'adamw'") as info:
        make_optimizer("adamw", tiny(), lr=0.1)
    assert all(n in str(info.value) for n in ("sgd", "adagrad", "rmsprop", "adam"))


def test_make_optimizer_passes_options_through_validation():
    with pytest.raises(SettingError, match="momentum must be"):
        make_optimizer("sgd", tiny(), lr=0.1, momentum=2.0)
    with pytest.raises(SettingError, match="Adam: momentum is not an option .the options are beta1, beta2, eps, lr."):
        make_optimizer("adam", tiny(), momentum=0.9)
