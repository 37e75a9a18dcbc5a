"""Real servers for the team set-up tests: a PostgreSQL cluster and `mlflow server`, both on 127.0.0.1.

PostgreSQL comes from Debian's ``postgresql`` package (``.ci/run`` installs it when missing).
Without it the PostgreSQL tests skip with the reason, except where SEQFW_REQUIRE_POSTGRES=1
(``.ci/run`` sets it): there a missing server is a failure, not a silent skip.
"""
from __future__ import annotations

import contextlib
import getpass
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """The directory holding initdb/pg_ctl (Debian keeps them out of PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def need_postgres() -> Path:
    bindir = postgres_bin()
    if bindir is None:
        reason = "PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does this)"
        if os.environ.get("SEQFW_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return bindir


@contextlib.contextmanager
def postgres(bindir: Path):
    """A throw-away cluster on 127.0.0.1 with a database ``mlflow``; yields its SQLAlchemy URI.

    The server refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
    """
    root = Path(tempfile.mkdtemp(prefix="seqfw-pg-"))
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else getpass.getuser()
    prefix = ["runuser", "-u", user, "--"] if as_root else []
    if as_root:
        shutil.chown(root, user)
    port = free_port()
    data, log = root / "data", root / "server.log"

    def sh(*cmd):
        subprocess.run([*prefix, *map(str, cmd)], check=True, capture_output=True, timeout=120)

    sh(bindir / "initdb", "-D", data, "-U", user, "--auth=trust", "-E", "UTF8")
    sh(bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start",
       "-o", f"-h 127.0.0.1 -p {port} -k {root}")
    try:
        sh(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", user, "mlflow")
        yield f"postgresql://{user}@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def wait_for_health(server: subprocess.Popen, base: str, log: Path, what: str) -> None:
    """Until ``base``/health answers 200; a RuntimeError with the end of ``log`` if ``server`` exits first or
    two minutes pass."""
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


@contextlib.contextmanager
def mlflow_server(store_uri: str, artifacts: Path, log: Path):
    """`mlflow server` on 127.0.0.1 (artifacts proxied to ``artifacts``); yields its http:// URI."""
    port = free_port()
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", store_uri, "--artifacts-destination", str(artifacts), "--workers", "2"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(server, uri, log, "mlflow server")
        yield uri
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        server.wait(timeout=30)


def rest(uri: str, endpoint: str, body: dict | None = None, **query) -> dict:
    """One call of MLflow's REST API (GET with a query, or POST with a JSON body)."""
    url = f"{uri}/api/2.0/mlflow/{endpoint}"
    if body is None:
        url += "?" + urllib.parse.urlencode(query, doseq=True) if query else ""
        request = urllib.request.Request(url)
    else:
        request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read() or b"{}")
