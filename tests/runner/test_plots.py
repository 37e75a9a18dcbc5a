"""The gradient views' figures: titled, axes labelled, forward panel first, one scale per figure."""
import numpy as np

from seqfw.runner.curves import view_record
from seqfw.runner.plots import comparison_figure, heatmap_figure, line_figure


def _record(name, panels=("layer0/fwd", "layer0/bwd", "layer1/fwd", "layer1/bwd"), steps=("0", "500", "1000"),
            scale=1.0):
    record = view_record(name, "lstm-bidir · cell lstm (H=8) · task ner")
    K = 12
    for i, panel in enumerate(panels):
        # step 0 four orders of magnitude above the rest: it must not swamp the heatmap's colours
        record["norms"][panel] = {s: list(scale * (1e4 if s == "0" else 1.0) * 0.7 ** np.arange(K) * (i + 1))
                                  for s in steps}
        record["count"][panel] = [64 - 5 * k for k in range(K)]
    return record


def _titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_line_figures_are_titled_labelled_and_forward_first():
    for name in ("curves", "lag"):
        fig = line_figure(_record(name))
        assert _titles(fig) == ["layer0 · fwd", "layer0 · bwd", "layer1 · fwd", "layer1 · bwd"]
        suptitle = " ".join(fig._suptitle.get_text().split())  # wrapped to the figure's width
        assert "lstm-bidir" in suptitle and "task ner" in suptitle and "L = Σ_t L⟨t⟩" in suptitle
        panels = [ax for ax in fig.axes if ax.get_title()]
        assert all(ax.get_yscale() == "log" and ax.get_xlabel() for ax in panels)
        assert panels[0].get_ylabel() and len({ax.get_ylim() for ax in panels}) == 1  # one shared y scale
        assert ("distance k" in panels[0].get_xlabel()) == (name == "lag")
        assert [t.get_text() for t in panels[-1].get_legend().get_texts()] == [
            "training step 0", "training step 500", "training step 1000"]


def test_the_heatmap_has_one_colour_scale_and_rows_relative_to_their_largest():
    fig = heatmap_figure(_record("heatmap"))
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 4 and len({im.get_clim() for im in images}) == 1
    assert sum(1 for ax in fig.axes if ax.get_label() == "<colorbar>") == 1
    low, high = images[0].get_clim()
    assert high == 0.0 and np.isclose(low, 11 * np.log10(0.7))  # the lowest relative value of any panel
    for im in images:  # every row (training step) peaks at 0: step 0's size does not swamp the others
        np.testing.assert_allclose(np.asarray(im.get_array()).max(axis=1), 0.0, atol=1e-12)


def test_the_comparison_overlays_children_in_the_given_order():
    children = [("cell=rnn", _record("lag", panels=("layer0/fwd",), scale=1e-3)),
                ("cell=lstm", _record("lag", panels=("layer0/fwd",)))]
    fig = comparison_figure(children, "sweep experiment=vanishing")
    ax = fig.axes[0]
    assert "sweep experiment=vanishing" in " ".join(fig._suptitle.get_text().split())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cell=rnn (step 1000)", "cell=lstm (step 1000)"]
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    np.testing.assert_allclose(solid[0].get_ydata(), children[0][1]["norms"]["layer0/fwd"]["1000"])
    assert len(ax.get_lines()) == 4  # after training (solid) and before (dashed), per child
