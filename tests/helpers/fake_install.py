"""A third-party package installed the way pip leaves one, without pip: a module plus a dist-info
directory with its ``seqfw`` entry point, on a path the test puts on PYTHONPATH."""
from pathlib import Path


def install_plugin(root: Path, package: str, module: str, entry_point: str, source: str,
                   version: str = "0.1") -> dict:
    """Write ``module``.py and ``package``'s dist-info under ``root``/site; returns the env to add."""
    site = root / "site"
    dist = site / f"{package.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[seqfw]\n{entry_point} = {module}\n")
    (site / f"{module}.py").write_text(source)
    return {"PYTHONPATH": str(site)}
