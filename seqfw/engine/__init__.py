"""The engine: a plain library of hand-written recurrent math on NumPy or CuPy.

It imports NumPy (and CuPy, in ``backend`` only) and nothing of seqfw's upper layers:
no Hydra, no MLflow, no pluggy, no registry. Wirings take cells or cell factories,
never names; ``seqfw.recurrent("lstm", ...)`` resolves a name one layer up.

    backend      array modules, dtypes, random generators (the only CuPy import)
    errors       SeqfwError, the base of every error a user can cause, and SettingError
    kernels      a cell's elementwise math, written once, fused on the GPU
    cells/       one file per cell family: parameters, one step forward, its backward
    recurrence/  the time loop (unroll), bidirectional, stacked, truncated BPTT
    models/      batches, the RNN types (many-to-many ... encoder-decoder)
    layers, losses, optim, tree, interop (PyTorch layouts)
    gradcheck, conformance   finite differences and the cell conformance kit
"""
