"""Figures for tracking (matplotlib, imported only when a figure is made): gradient-norm curves and heatmaps.

Figures are made with ``matplotlib.figure.Figure``, not pyplot: nothing is shown, nothing needs a
GUI backend or pyplot's global figure list, and pyplot's import alone costs most of a second of
every tracked run."""
from __future__ import annotations


def grad_norm_figure(curves: dict):
    """One panel per layer/direction: ‖∂L/∂a<t>‖ against t (log scale), one line per training step."""
    from matplotlib.figure import Figure

    n = len(curves)
    fig = Figure(figsize=(4.5 * n, 3.4))
    axes = fig.subplots(1, n, squeeze=False, sharey=True)
    for ax, (name, by_step) in zip(axes[0], sorted(curves.items())):
        for step, values in sorted(by_step.items(), key=lambda kv: int(kv[0])):
            ax.plot(range(len(values)), [max(v, 1e-30) for v in values], label=f"step {step}")  # 0 -> floor
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("time step t")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("‖∂L/∂a⟨t⟩‖")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def grad_norm_heatmap(curves: dict):
    """One panel per layer/direction: log10 ‖∂L/∂a<t>‖ over training step (rows) × time step t (columns)."""
    import numpy as np
    from matplotlib.figure import Figure

    n = len(curves)
    fig = Figure(figsize=(4.8 * n, 3.6))
    axes = fig.subplots(1, n, squeeze=False)
    for ax, (name, by_step) in zip(axes[0], sorted(curves.items())):
        steps = sorted(by_step, key=int)
        grid = np.log10(np.maximum(np.array([by_step[s] for s in steps]), 1e-30))
        image = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest")
        ax.set_yticks(range(len(steps)), steps)
        ax.set_title(name)
        ax.set_xlabel("time step t")
        ax.set_ylabel("training step")
        fig.colorbar(image, ax=ax, label="log10 ‖∂L/∂a⟨t⟩‖")
    fig.tight_layout()
    return fig
