"""The dtype follows the backend: parameters and states are made in it, and a mismatch is refused."""
import numpy as np
import pytest

from seqfw import SeqfwError, get_backend, make_cell, recurrent
from seqfw.engine.errors import DtypeError
from seqfw.engine.layers import Dense, Embedding
from seqfw.engine.models import Batch, EncoderDecoder, sequence_model
from seqfw.engine.recurrence import step
from seqfw.engine.tree import flatten, tree_map

DTYPES = ["float32", "float64"]
B, T, D, H, V = 2, 4, 3, 5, 7

FIX = ("`be = get_backend(..., dtype=...)`", "`x = be.asarray(x)`", "`params = net.init_params(be)`",
       "`net.initial_state(batch, be)`", "seqfw does not cast silently")


def _models():
    """Every kind of thing that has parameters, by name."""
    return {
        "cell": make_cell("lstm", D, H, peephole=True),
        "stacked": recurrent("gru", D, H, num_layers=2),
        "bidirectional": recurrent("lstm", D, H, bidirectional=True),
        "embedding": Embedding(V, D),
        "dense": Dense(D, V),
        **{kind: sequence_model(kind, recurrent("rnn", D, H), V, "softmax", V, D)
           for kind in ("many_to_many", "one_to_many", "many_to_one", "one_to_one")},
        "features": sequence_model("many_to_many", recurrent("gru", D, H), 2, "mse"),
        "encoder_decoder": EncoderDecoder(V, V, D, recurrent("gru", D, H), recurrent("gru", D, H)),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(_models()))
def test_init_params_takes_the_backends_dtype_and_seed(name, dtype):
    model = _models()[name]
    be = get_backend(dtype=dtype, seed=4)
    params = flatten(model.init_params(be))
    assert params and all(a.dtype == np.dtype(dtype) for a in params.values())
    old = flatten(model.init_params(np.random.default_rng(4), np, np.dtype(dtype).type))  # the old form: the same draws
    assert all(np.array_equal(params[k], old[k]) for k in old)
    other = flatten(model.init_params(be, seed=5))
    assert all(np.array_equal(other[k], flatten(model.init_params(get_backend(dtype=dtype, seed=5)))[k]) for k in other)
    assert any(not np.array_equal(params[k], other[k]) for k in params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["cell", "stacked", "bidirectional"])
def test_initial_state_takes_the_backends_dtype(name, dtype):
    state = _models()[name].initial_state(B, get_backend(dtype=dtype))
    leaves = flatten(state).values()
    assert leaves and all(a.dtype == np.dtype(dtype) and a.shape == (B, H) and not a.any() for a in leaves)


def test_a_batch_moves_to_the_backends_dtype():
    batch = Batch(np.zeros((T, B, D)), np.zeros((T, B), int), np.array([T, T]))
    moved = batch.to(get_backend(dtype="float64"))
    assert moved.inputs.dtype == np.float64 and moved.targets.dtype == batch.targets.dtype
    with pytest.raises(DtypeError, match=r"Batch.to: no dtype given.*`batch.to\(be\)`"):
        batch.to(np)


@pytest.mark.parametrize("call, owner", [
    (lambda m: m["stacked"].init_params(np.random.default_rng(0)), "Stacked.init_params"),
    (lambda m: m["stacked"].init_params(np.random.default_rng(0), np), "Stacked.init_params"),
    (lambda m: m["cell"].init_params(np.random.default_rng(0)), "PeepholeLSTMCell.init_params"),
    (lambda m: m["many_to_many"].init_params(np.random.default_rng(0)), "ManyToMany.init_params"),
    (lambda m: m["encoder_decoder"].init_params(np.random.default_rng(0)), "EncoderDecoder.init_params"),
    (lambda m: m["dense"].init_params(np.random.default_rng(0)), "Dense.init_params"),
])
def test_init_params_without_a_dtype_is_refused(call, owner):
    with pytest.raises(DtypeError) as err:
        call(_models())
    assert str(err.value) == (
        f"{owner}: no dtype given. Parameters are created in the backend's dtype: pass the backend, "
        "`net.init_params(be)` with `be = get_backend(..., dtype=...)`, or the dtype itself, "
        "`init_params(rng, xp, dtype=...)`.")
    assert isinstance(err.value, SeqfwError) and isinstance(err.value, TypeError)


@pytest.mark.parametrize("name, owner", [("stacked", "Stacked"), ("cell", "PeepholeLSTMCell")])
def test_initial_state_without_a_dtype_is_refused(name, owner):
    model = _models()[name]
    for args in ((B,), (B, np)):
        with pytest.raises(DtypeError) as err:
            model.initial_state(*args)
        assert str(err.value) == (
            f"{owner}.initial_state: no dtype given. States are created in the backend's dtype: pass the backend, "
            "`net.initial_state(batch, be)` with `be = get_backend(..., dtype=...)`, or the dtype itself, "
            "`initial_state(batch, xp, dtype=...)`.")


def test_a_backend_and_a_dtype_together_are_refused():
    be = get_backend()
    with pytest.raises(TypeError, match=r"give a backend alone \(`init_params\(be\)`\) or `\(rng, xp, dtype\)`"):
        recurrent("rnn", D, H).init_params(be, np, np.float64)
    with pytest.raises(TypeError, match="seed= goes with a backend"):
        recurrent("rnn", D, H).init_params(np.random.default_rng(0), np, np.float64, seed=3)


def _assert_mismatch(err, owner, got_what, got, want_what, want):
    message = str(err.value)
    assert message.startswith(f"{owner}: {got_what} {got} but {want_what} {want}. "), message
    assert all(phrase in message for phrase in FIX), message
    assert "\n" not in message  # one paragraph


@pytest.mark.parametrize("x_dtype, p_dtype", [(np.float32, np.float64), (np.float64, np.float32)])
def test_forward_refuses_inputs_in_another_dtype(x_dtype, p_dtype, rng):
    net = recurrent("lstm", D, H, num_layers=2)
    params = net.init_params(rng, np, p_dtype)
    with pytest.raises(DtypeError) as err:
        net.forward(params, rng.standard_normal((T, B, D)).astype(x_dtype))
    _assert_mismatch(err, "Stacked.forward", "the inputs x are", np.dtype(x_dtype).name,
                     "the parameters are", np.dtype(p_dtype).name)


def test_forward_refuses_a_state_in_another_dtype(rng):
    net = recurrent("gru", D, H, bidirectional=True)
    params = net.init_params(get_backend(dtype="float64"))
    state = net.initial_state(B, get_backend(dtype="float32"))
    with pytest.raises(DtypeError) as err:
        net.forward(params, rng.standard_normal((T, B, D)), None, state)
    _assert_mismatch(err, "Stacked.forward", "the initial state is", "float32", "the parameters are", "float64")
    partial = [{"fwd": None, "bwd": state[0]["bwd"]}]  # the first state given, wherever it is, is checked
    with pytest.raises(DtypeError, match="the initial state is float32 but the parameters are float64"):
        net.forward(params, rng.standard_normal((T, B, D)), None, partial)


def test_step_refuses_mismatched_inputs_states_and_parameters(rng):
    net = recurrent("rnn", D, H, num_layers=2)
    params = net.init_params(get_backend(dtype="float32"))
    with pytest.raises(DtypeError) as err:
        net.step(params, rng.standard_normal((B, D)))
    _assert_mismatch(err, "Stacked.step", "the input x is", "float64", "the parameters are", "float32")
    with pytest.raises(DtypeError) as err:
        net.step(params, rng.standard_normal((B, D)).astype(np.float32), net.initial_state(B, np, np.float64))
    _assert_mismatch(err, "Stacked.step", "the state is", "float64", "the parameters are", "float32")
    cell = net.layers[0].cells["fwd"]
    with pytest.raises(DtypeError) as err:
        step(cell, params["layers"][0]["fwd"], rng.standard_normal((B, D)), cell.initial_state(B, np, np.float32))
    _assert_mismatch(err, "step(RNNCell)", "the input x is", "float64", "the parameters are", "float32")


def test_model_logits_and_loss_refuse_mismatches_but_take_token_ids(rng):
    model = sequence_model("many_to_many", recurrent("gru", D, H), V, "softmax", V, D)
    params = model.init_params(get_backend(dtype="float64"))
    ids = rng.integers(0, V, (T, B))
    out, _ = model.logits(params, ids.astype(np.int32))  # integers are ids, whatever their width
    assert out.dtype == np.float64
    params["head"] = tree_map(lambda a: a.astype(np.float32), params["head"])
    with pytest.raises(DtypeError) as err:
        model.logits(params, ids)
    _assert_mismatch(err, "ManyToMany.logits", "the head's parameters are", "float32",
                     "the network's parameters are", "float64")
    with pytest.raises(DtypeError, match="ManyToMany.loss_and_grads: the head's parameters are float32"):
        model.loss_and_grads(params, Batch(ids, ids, None))

    features = sequence_model("many_to_one", recurrent("lstm", D, H), 2, "mse")
    params = features.init_params(get_backend(dtype="float32"))
    with pytest.raises(DtypeError) as err:
        features.logits(params, rng.standard_normal((T, B, D)))
    _assert_mismatch(err, "ManyToOne.logits", "the inputs x are", "float64", "the network's parameters are", "float32")
    state = features.rnn.initial_state(B, get_backend(dtype="float64"))
    with pytest.raises(DtypeError, match="ManyToOne.logits: the initial state is float64 but the network's"):
        features.logits(params, rng.standard_normal((T, B, D)).astype(np.float32), None, state)


def test_encoder_decoder_refuses_parts_in_different_dtypes(rng):
    model = EncoderDecoder(V, V, D, recurrent("gru", D, H), recurrent("gru", D, H))
    params = model.init_params(get_backend(dtype="float32"))
    params["tgt_embed"] = tree_map(lambda a: a.astype(np.float64), params["tgt_embed"])
    ids = rng.integers(0, V, (T, B))
    with pytest.raises(DtypeError) as err:
        model.loss_and_grads(params, Batch(ids, ids, None, ids, None))
    _assert_mismatch(err, "EncoderDecoder.loss_and_grads", "the tgt_embed parameters are", "float64",
                     "the encoder parameters are", "float32")


def test_the_exact_mismatch_message(rng):
    net = recurrent("lstm", D, H)
    with pytest.raises(DtypeError) as err:
        net.forward(net.init_params(get_backend(dtype="float32")), rng.standard_normal((T, B, D)))
    assert str(err.value) == (
        "Stacked.forward: the inputs x are float64 but the parameters are float32. Every float array of one "
        "computation must share one dtype; seqfw does not cast silently. Pick the dtype once, in the backend, "
        "and create everything from it: `be = get_backend(..., dtype=...)`, then `x = be.asarray(x)` for the "
        "inputs, `params = net.init_params(be)` for the parameters and `net.initial_state(batch, be)` for a state.")


def test_every_leaf_is_compared_not_only_the_first(rng):
    """A float32 weight deep in a float64 network, a float32 memory cell beside a float64 hidden state."""
    be = get_backend(dtype="float64")
    net = recurrent("lstm", D, H, num_layers=2)
    params = net.init_params(be)
    params["layers"][1]["fwd"]["W_h"] = params["layers"][1]["fwd"]["W_h"].astype(np.float32)
    with pytest.raises(DtypeError, match=r"^Stacked.forward: the parameters are float32 at layers.1.fwd.W_h but "
                                         r"float64 at layers.0.fwd.W_x\. "):
        net.forward(params, rng.standard_normal((T, B, D)))
    params = net.init_params(be)
    state = net.initial_state(B, be)
    state[1]["fwd"] = state[1]["fwd"]._replace(c=state[1]["fwd"].c.astype(np.float32))
    with pytest.raises(DtypeError, match=r"^Stacked.forward: the initial state is float32 at 1.fwd.c but the "
                                         r"parameters are float64\. "):
        net.forward(params, rng.standard_normal((T, B, D)), None, state)


def test_backward_refuses_gradients_in_another_dtype(rng):
    be = get_backend(dtype="float64")
    net = recurrent("gru", D, H)
    params = net.init_params(be)
    y, _, cache = net.forward(params, rng.standard_normal((T, B, D)))
    with pytest.raises(DtypeError, match=r"^Stacked.backward: dL/dy is float32 but the parameters are float64\. "):
        net.backward(params, np.ones_like(y, dtype=np.float32), None, cache)
    _, state, step_cache = net.step(params, rng.standard_normal((B, D)))
    with pytest.raises(DtypeError, match=r"^Stacked.step_backward: dL/dy is float32 but the parameters are float64"):
        net.step_backward(params, np.ones((B, H), dtype=np.float32), None, step_cache)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, bool])
def test_a_network_refuses_integer_features_instead_of_truncating_its_outputs(dtype):
    be = get_backend(dtype="float64")
    net = recurrent("rnn", D, H)
    params = net.init_params(be)
    x = np.ones((T, B, D), dtype=dtype)
    for call, owner in ((lambda: net.forward(params, x), "Stacked.forward"), (lambda: net.step(params, x[0]), "Stacked.step"),
                        (lambda: sequence_model("many_to_many", net, 2, "mse").logits(
                            {"rnn": params, "head": Dense(H, 2).init_params(be)}, x), "ManyToMany.logits")):
        with pytest.raises(DtypeError, match=rf"^{owner}: the inputs x are {np.dtype(dtype).name}, and a network reads "
                                             "float features"):
            call()


def test_decoding_refuses_parts_in_different_dtypes():
    be = get_backend(dtype="float64")
    model = EncoderDecoder(V, V, D, recurrent("gru", D, H), recurrent("gru", D, H))
    params = model.init_params(be)
    params["head"] = tree_map(lambda a: a.astype(np.float32), params["head"])
    src = np.array([[1, 2], [3, 4]])
    for decode, args in ((model.greedy, (1, 2, 4)), (model.beam_search, (1, 2, 4, 2))):
        with pytest.raises(DtypeError, match=rf"^EncoderDecoder.{decode.__name__}: the head parameters are float32"):
            decode(params, src, np.array([2, 2]), *args)
