"""The runner, a run's life: build from a config, train (the loop as named steps), checkpoint, resume, track, serve.

    settings    TrainSettings, RunContext, RunResult, ConfigError, TrainingError
    config      the config groups' schemas and the one table of their keys
    build       everything a run needs, checked; the adapter from argument names to config keys
    step        one training step (full or truncated BPTT, clipping, the update)
    loop        fit(): the loop as named steps over a RunState; owns the run's terminal state
    curves      gradient-norm curves (plots draws them)
    checkpoint  npz checkpoints, never pickles;  resume  training state and clean stops on signals
    tracking    the only MLflow import: a Tracker (MLflow or none), sweep summaries
    serving     a finished run rebuilt for predictions; the MLflow pyfunc loader
    trained     a finished run as one object (Trained: model, task, metrics, run id); seqfw.load
"""
