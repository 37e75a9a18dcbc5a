"""The command line: the Hydra entry point (the only Hydra import) and the one error boundary.

    main       python -m seqfw: preflight, compose, train, summary; SeqfwError -> one paragraph, exit 2
    schema     the shipped conf/ tree, the ConfigStore, --help
    preflight  the command line checked before Hydra composes (did-you-mean, types, plugins, output dir)
    sweep      a --multirun as an MLflow parent run with a child per job (a Hydra callback)
    sample     python -m seqfw.sample: sample from or score with a finished language model
    inventory  python -m seqfw.inventory: every cell, task and topology and where it comes from
"""
