"""A sweep's comparison figure: its children's lag views overlaid on the parent run.

``experiment=vanishing`` sweeps ``cell=rnn,gru_simple,gru,lstm``; the parent then holds the
lecture's picture, every cell's g(k) in one plot, as ``grad_norms/lag_comparison.png`` (and the
curves it draws, as ``.json``). Each child is labelled by the overrides that set it apart
from the others (``cell=rnn``), read from its ``overrides`` tag.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

LAG = "grad_norms/lag.json"
COMPARISON = "grad_norms/lag_comparison"


def log_comparison(uri: str | None, parent_run_id: str, child_ids: list[str]) -> str | None:
    """Log the comparison of the children ``child_ids`` (in the order they started) to the parent run in the
    store ``uri``; returns its artifact path, or None when fewer than two children have a lag view (a job
    that failed early has none)."""
    from .tracking import open_store

    _, client = open_store(uri)
    children = []
    with tempfile.TemporaryDirectory(prefix="seqfw-compare-") as tmp:
        for run_id in child_ids:
            try:
                path = client.download_artifacts(run_id, LAG, tmp)
            except Exception:  # no lag view: the job failed before its first one, or tracked none
                continue
            record = json.loads(Path(path).read_text())
            run = client.get_run(run_id)
            if record.get("norms"):
                children.append((run.info.start_time, run_id, run.data.tags.get("overrides", ""), record))
    if len(children) < 2:
        return None
    children = [child[1:] for child in sorted(children, key=lambda child: child[0])]
    title = client.get_run(parent_run_id).info.run_name or f"sweep {parent_run_id}"
    labels = distinct_overrides([overrides for _, overrides, _ in children])
    labels = [label if labels.count(label) == 1 else f"{label} ({run_id[:8]})".strip()  # a repeated combination
              for label, (run_id, _, _) in zip(labels, children)]
    labelled = [(label or run_id[:8], record) for label, (run_id, _, record) in zip(labels, children)]
    client.log_dict(parent_run_id, {"title": title, "children": {
        label: {"run_id": run_id, **record} for (label, _), (run_id, _, record) in zip(labelled, children)}},
        f"{COMPARISON}.json")
    from .plots import comparison_figure

    client.log_figure(parent_run_id, comparison_figure(labelled, title), f"{COMPARISON}.png")
    return f"{COMPARISON}.png"


def distinct_overrides(overrides: list[str]) -> list[str]:
    """Each space-separated override list without the overrides that every list has."""
    split = [o.split() for o in overrides]
    common = set.intersection(*(set(s) for s in split)) if split else set()
    return [" ".join(o for o in s if o not in common) for s in split]
