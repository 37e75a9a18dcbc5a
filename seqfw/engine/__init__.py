"""The engine: a plain library of hand-written recurrent math on NumPy or CuPy.

It imports NumPy (and CuPy, in ``backend`` only) and nothing of seqfw's upper layers:
no Hydra, no MLflow, no pluggy, no registry. Wirings take cells or cell factories,
never names; ``seqfw.recurrent("lstm", ...)`` resolves a name one layer up.

    backend      array modules, dtypes, random generators (the only CuPy import)
    errors       SeqfwError, the base of every error a user can cause, SettingError, DtypeError
    kernels      a cell's elementwise math, written once, fused on the GPU
    cells/       one file per cell family: parameters, one step forward, its backward
    recurrence/  the time loop (unroll), bidirectional, stacked, truncated BPTT, one step by hand (step)
    models/      batches, the RNN types (many-to-many ... encoder-decoder)
    functional   softmax, log_softmax (stable, dtype-preserving, either backend)
    layers, losses, optim, tree
    names        parameters by dotted name: get, set (shape- and dtype-checked), flat dicts in and out
    layouts      weights in the course's layout and in any packed gate order, in and out
    interop      PyTorch's layouts: state dicts, and h0/c0/h_n/c_n
    gradcheck, conformance   finite differences and the cell conformance kit

The dtype follows the backend: ``net.init_params(be)`` and ``net.initial_state(batch, be)`` make
arrays in ``be.xp`` and ``be.dtype`` (the old ``(rng, xp, dtype)`` forms need the dtype: there is
no default), and a network or model given float arrays of two dtypes raises ``DtypeError``
instead of casting. Beyond ``forward``/``backward`` over whole sequences, ``Stacked`` offers
``step``/``step_backward`` (one time step by hand, with dx and dense gradients),
``forward(..., keep_states=True)`` with ``states(cache)`` (every step's state) and
``batch_first=True``.
"""
