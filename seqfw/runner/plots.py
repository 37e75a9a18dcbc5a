"""The figures of the gradient views (``seqfw.runner.curves``) and of a sweep's comparison of them.

Figures are made with ``matplotlib.figure.Figure``, not pyplot: nothing is shown, nothing needs a
GUI backend or pyplot's global figure list, and pyplot's import alone costs most of a second of
every tracked run. Panels follow the network: layer by layer, the forward direction first, an
encoder before its decoder. Every figure is titled with what it shows and for which run.
"""
from __future__ import annotations

FLOOR = 1e-30  # a norm of exactly 0 (underflow, or nothing reaches) drawn at the bottom of a log scale
DECADES = 12  # the heatmap shows at most this many orders of magnitude below each row's largest value


def _panels(fig, n: int, height: float, sharey: bool = True, right: float = 0.75):
    """``n`` panels side by side, with fixed margins in inches (a layout engine would cost ~1 s a figure)."""
    width = max(4.6 * n, 6.0)
    fig.set_size_inches(width, height)
    fig.subplots_adjust(left=0.85 / width, right=1 - right / width, bottom=0.55 / height, top=1 - 0.85 / height,
                        wspace=0.45 if not sharey else 0.3)
    return fig.subplots(1, n, squeeze=False, sharey=sharey)[0]


def _steps(by_step: dict) -> list[str]:
    return sorted(by_step, key=int)


def line_figure(record: dict):
    """One panel per layer and direction: the view's norm against its x (log scale), one line per
    training step, and in grey the number of sequences each point averages."""
    from matplotlib.figure import Figure

    fig = Figure()
    axes = _panels(fig, len(record["norms"]), 4.3)
    for ax, (panel, by_step) in zip(axes, record["norms"].items()):
        steps = _steps(by_step)
        for i, step in enumerate(steps):
            values, note = positive(by_step[step], record["x"])
            ax.plot(range(len(values)), values, label=f"training step {step}{note}",
                    color=_shade(i, len(steps)), lw=1.6, **_marks(values))
        ax.set_yscale("log")
        ax.set_title(panel.replace("/", " · "))
        ax.set_xlabel(record["x"])
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, which="both", alpha=0.3)
        count = ax.twinx()
        count.step(range(len(record["count"][panel])), record["count"][panel], where="mid", color="0.6", lw=0.8)
        count.set_ylim(0, max(record["count"][panel]) * 1.05)
        count.tick_params(axis="y", colors="0.5", labelsize=7)
        if ax is axes[-1]:
            count.set_ylabel("sequences averaged", color="0.5", fontsize=8)
    axes[0].set_ylabel(record["y"], fontsize=8)
    axes[-1].legend(fontsize=7, loc="lower left" if record["view"] == "lag" else "best")
    _title(fig, record["title"], _what(record))
    return fig


def heatmap_figure(record: dict):
    """One panel per layer and direction: training step (rows) × x (columns), coloured by log10 of the norm
    relative to its row's largest value, on one colour scale for the whole figure."""
    import numpy as np
    from matplotlib.figure import Figure

    grids, lowest = {}, 0.0
    for panel, by_step in record["norms"].items():
        rows = np.array([by_step[s] for s in _steps(by_step)], dtype=float)
        top = np.maximum(rows.max(axis=1, keepdims=True), FLOOR)
        grids[panel] = np.log10(np.maximum(rows, FLOOR) / top)  # each row's shape, not its size
        finite = grids[panel][grids[panel] > -DECADES]
        lowest = min(lowest, float(finite.min()) if finite.size else -1.0)
    fig = Figure()
    axes = _panels(fig, len(grids), 4.5, sharey=False)
    image = None
    for ax, (panel, grid) in zip(axes, grids.items()):
        steps = _steps(record["norms"][panel])
        image = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                          vmin=max(lowest, -DECADES), vmax=0.0)
        ax.set_yticks(range(len(steps)), steps)
        ax.set_title(panel.replace("/", " · "))
        ax.set_xlabel(record["x"])
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].set_ylabel("training step")
    _title(fig, record["title"], _what(record))  # before the colour bar, which is placed beside the panels
    fig.colorbar(image, ax=list(axes), label="log10 (norm ÷ its row's largest)")
    return fig


def comparison_figure(children: list[tuple[str, dict]], title: str):
    """A sweep's children's lag views in one figure: per panel that all of them have, each child's g(k) at
    its last recorded training step (solid; the end of training, for a run that finished) and its first
    (dashed; step 0, for a run that was not resumed), labelled by what sets it apart."""
    from matplotlib.figure import Figure

    panels = [p for p in children[0][1]["norms"] if all(p in record["norms"] for _, record in children)]
    fig = Figure()
    axes = _panels(fig, len(panels), 4.6, right=0.3)
    from matplotlib import colormaps

    colours = [colormaps["tab10" if len(children) <= 10 else "tab20"](i % 20) for i in range(len(children))]
    for ax, panel in zip(axes, panels):
        for i, (label, record) in enumerate(children):
            by_step = record["norms"][panel]
            steps, colour = _steps(by_step), colours[i]
            last, note = positive(by_step[steps[-1]], children[0][1]["x"])
            ax.plot(range(len(last)), last, color=colour, lw=2, label=f"{label} (step {steps[-1]}{note})",
                    **_marks(last))
            if len(steps) > 1:
                first, _ = positive(by_step[steps[0]], children[0][1]["x"])
                ax.plot(range(len(first)), first, color=colour, lw=1, ls="--", alpha=0.6, **_marks(first))
        ax.set_yscale("log")
        ax.set_title(panel.replace("/", " · "))
        ax.set_xlabel(children[0][1]["x"])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(children[0][1]["y"], fontsize=8)
    axes[-1].legend(fontsize=8, loc="lower left")
    _title(fig, title, "lag view g(k) of each run at its last recorded training step (solid) and its first (dashed)")
    return fig


def _marks(values: list) -> dict:
    """Markers where a line alone would not show: a curve of one or two points (a one-to-one model's)."""
    return {"marker": "o", "ms": 4} if len(values) <= 2 else {}


def _title(fig, title: str, what: str) -> None:
    """The run's title and what the figure shows, wrapped to the figure's width."""
    import textwrap

    width = int(fig.get_figwidth() * 14)  # characters of 9-point text per line
    lines = textwrap.wrap(title, width)[:2] + [line for part in what.split("\n") for line in textwrap.wrap(part, width)]
    fig.suptitle("\n".join(lines), fontsize=9)
    fig.subplots_adjust(top=1 - (0.5 + 0.16 * len(lines)) / fig.get_figheight())  # room for the panels' titles


def positive(values: list, x: str, at: list | None = None) -> tuple[list, str]:
    """``values`` for a log scale: an exact 0 (the gradient underflowed, or nothing reaches) is left out
    of the line, and said in its label; ``at`` are the x values (default 0, 1, ...), ``x`` the axis."""
    at = list(range(len(values))) if at is None else at
    zeros = [i for i, v in enumerate(values) if v <= 0]
    axis = "k" if x.startswith("distance") else "t" if x.startswith("time") else x
    if not zeros:
        note = ""
    elif zeros == list(range(zeros[0], len(values))):
        note = f"; 0 from {axis} = {at[zeros[0]]}"
    else:
        note = f"; 0 at {len(zeros)} values of {axis}"
    return [v if v > 0 else float("nan") for v in values], note


def _what(record: dict) -> str:
    return {"curves": "step view: how much gradient reaches each step",
            "lag": "lag view: how much of one loss term's gradient reaches k steps back",
            "heatmap": "step view over training"}[record["view"]] + f"\n{record['loss']}"


def _shade(i: int, n: int):
    """Light to dark blue: later training steps darker."""
    from matplotlib import colormaps

    return colormaps["Blues"](0.35 + 0.65 * (i / max(n - 1, 1)))


FIGURES = {"curves": line_figure, "lag": line_figure, "heatmap": heatmap_figure}
