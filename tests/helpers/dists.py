"""Real plugin distributions for tests: built from source by pip and installed into a throw-away folder.

``pip install --target`` writes each package's module and its ``.dist-info`` (with the entry points)
there, exactly as into a site-packages; a subprocess given ``PYTHONPATH=<site>`` sees them through
``importlib.metadata`` like any installed package. Sources are copied first, so that setuptools'
in-tree build files never land in the repository.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DISTS = Path(__file__).resolve().parents[1] / "plugins" / "dists"


def install(sources: list[Path], root: Path) -> dict:
    """Build and install every package in ``sources`` under ``root``/site; returns the env entry to use them."""
    site, build = root / "site", root / "src"
    copies = [shutil.copytree(src, build / src.name) for src in sources]
    out = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                          "--no-build-isolation", "--target", str(site), *map(str, copies)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return {"PYTHONPATH": str(site)}
