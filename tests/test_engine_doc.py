"""docs/engine.md is executed: every ```python block, top to bottom, as one script in a fresh Python process
(in a temporary directory: its last section trains a run there), so that the page never drifts from the code.
Its ``assert``s are the page's claims; the printed DtypeError must be the one the page shows, and its table
of gate orders must name each built-in cell's own GATES and course letters."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import clean_env

PAGE = Path(__file__).resolve().parents[1] / "docs" / "engine.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_every_code_block_of_the_engine_page_runs(tmp_path):
    pytest.importorskip("torch", reason="docs/engine.md compares with PyTorch (pip install torch==2.13.0)")
    script = tmp_path / "engine_page.py"
    script.write_text("\n\n".join(blocks("python")), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                         timeout=600, env=clean_env())
    assert out.returncode == 0, out.stderr[-4000:]
    shown = " ".join(blocks("text")[0].split())  # the DtypeError as the page shows it
    assert shown in " ".join(out.stdout.split())
    assert "val/perplexity" in out.stdout and "workflowType=machine_learning" in out.stdout


def test_the_gate_table_names_each_cells_own_gates_and_course_letters():
    from seqfw.engine.cells import GRUCell, GRUSimpleCell, LSTMCell, RNNCell

    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:]]
            for r in PAGE.read_text(encoding="utf-8").splitlines() if r.startswith("| `")}
    for row, cls in (("`rnn` (tanh, relu)", RNNCell), ("`gru_simple`", GRUSimpleCell),
                     ("`gru` (Cho, the default)", GRUCell), ("`lstm`", LSTMCell)):
        gates, _, course = rows[row][0], rows[row][1], rows[row][2]
        assert gates == f"`{' '.join(cls.GATES)}`", row
        letters = re.findall(r"\bW(\w)\b", course)
        assert sorted(letters) == sorted(cls.COURSE_NAMES.values()), row
