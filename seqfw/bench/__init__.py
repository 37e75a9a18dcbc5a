"""Measuring tools, outside the layers they measure (not imported by seqfw itself).

    throughput  python -m seqfw.bench: training-step throughput side by side with PyTorch
    studies     --batch1 (one sequence at a time vs a min-char-rnn loop) and --scaling (time, memory vs T)
    soak        python -m seqfw.bench.soak: one long run with its resident memory sampled
"""
