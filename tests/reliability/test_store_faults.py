"""Store and server faults, through the real CLI: a broken, locked or read-only SQLite store, a
tracking URI MLflow 3 cannot use, and a server that is down or fails every request.

One tiny tracked run seeds a real MLflow store; each case copies or damages it (or makes its own
file) in a directory of its own and runs ``python -m seqfw`` (or ``python -m seqfw.sample``) there in a
subprocess, two cases at a time. Each must be refused with exit status 2, one paragraph naming the
file or key and the fix, no traceback; the store file must be byte for byte as it was, and a store
that could be read must hold the seeded run and nothing else (no run created by a refused start).
The subprocess timeout bounds how long a refusal may take: a locked store or a failing server must
be refused in seconds, where MLflow alone retries for minutes.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.cli import TINY, clean_env
from tests.helpers.servers import free_port
from tests.helpers.store import assert_refused, runs

FAST = [*TINY, "train.steps=4", "train.eval_every=4", "train.log_every=2", "task.num_sentences=60"]
RUN_ID = "0123456789abcdef0123456789abcdef"
LOCKER = ("import sqlite3, sys, time\n"
          "con = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
          "con.execute('BEGIN EXCLUSIVE')\n"
          "print('locked', flush=True)\n"
          "time.sleep(300)\n")
# Root ignores file modes: drop the capabilities that let it, so a read-only file is read-only to the run too.
NO_ROOT_POWERS = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


@dataclass
class Case:
    id: str
    args: list[str]  # for python -m seqfw, or python -m seqfw.sample when sample; {tmp}, {stub}, {dead} filled in
    expect: list[str]  # texts the message must hold; {tmp} filled in
    store: str | None = "mlflow.db"  # the file the case prepares, which must be left as it was
    make: str = "seeded"  # how the store file is made: see prepare()
    sample: bool = False
    env: dict = field(default_factory=dict)
    timeout: int = 60  # the bound on the whole command
    unprivileged: bool = False  # run without root's power over file modes
    nothing_written: bool = False  # refused before any work: no output directory either
    absent: tuple = ("mlruns",)  # what must not exist afterwards (no store made somewhere else instead)


CASES = [
    Case("truncated-default-store", [], ["the MLflow store {tmp}/mlflow.db is truncated", "its header says",
                                         "mv {tmp}/mlflow.db {tmp}/mlflow.db.broken", "tracking=none"], make="truncated"),
    Case("not-sqlite", ["tracking.uri=sqlite:///{tmp}/store.db"],
         ["the MLflow store {tmp}/store.db is not an SQLite database", "Point tracking.uri at the right file"],
         store="store.db", make="garbage"),
    Case("empty-file", [], ["the MLflow store {tmp}/mlflow.db is an empty file (0 bytes)", "rm {tmp}/mlflow.db"],
         make="empty"),
    Case("damaged-page", [], ["the MLflow store {tmp}/mlflow.db is damaged", "malformed", "mv {tmp}/mlflow.db"],
         make="damaged"),
    Case("foreign-database", ["tracking.uri=sqlite:///{tmp}/people.db"],
         ["{tmp}/people.db is not an MLflow store but another database (its tables: people)"],
         store="people.db", make="foreign"),
    Case("locked-by-another-process", [], ["the MLflow store {tmp}/mlflow.db is locked by another process",
                                           "fuser {tmp}/mlflow.db", "tracking=none"], make="locked", timeout=30),
    Case("read-only-file", [], ["the MLflow store {tmp}/mlflow.db is read-only", "chmod u+w {tmp}/mlflow.db"],
         make="read-only", unprivileged=True),
    Case("read-only-folder", ["tracking.uri=sqlite:///{tmp}/shared/mlflow.db"],
         ["the folder {tmp}/shared of the MLflow store {tmp}/shared/mlflow.db is not writable", "journal"],
         store="shared/mlflow.db", make="read-only-folder", unprivileged=True),
    Case("new-store-in-read-only-folder", ["tracking.uri=sqlite:///{tmp}/shared/new/mlflow.db"],
         ["cannot create the MLflow store sqlite:///{tmp}/shared/new/mlflow.db: {tmp}/shared is not writable",
          "Point tracking.uri (or MLFLOW_TRACKING_URI) at a writable place", "tracking=none"],
         store=None, make="read-only-folder", unprivileged=True, absent=("shared/new", "mlflow.db")),
    Case("directory-as-store", ["tracking.uri=sqlite:///{tmp}/runs.db"],
         ["the MLflow store {tmp}/runs.db is a directory, not an SQLite file", "sqlite:///{tmp}/runs.db/mlflow.db"],
         store="runs.db", make="directory"),
    Case("bare-folder-uri", ["tracking.uri={tmp}/runs"],
         ["tracking.uri={tmp}/runs is a folder store", "tracking.uri=sqlite:///{tmp}/runs/mlflow.db"],
         store=None, nothing_written=True),
    Case("unsupported-scheme", ["tracking.uri=ftp://example.org/runs"],
         ["tracking.uri=ftp://example.org/runs: MLflow cannot keep runs at 'ftp:' addresses",
          "sqlite:///PATH/mlflow.db", "tracking=none"], store=None, nothing_written=True, timeout=30),
    Case("unsupported-scheme-from-env", [], ["MLFLOW_TRACKING_URI=ftp://example.org/runs"], store=None,
         env={"MLFLOW_TRACKING_URI": "ftp://example.org/runs"}, nothing_written=True, timeout=30),
    Case("in-memory-sqlite", ["tracking.uri=sqlite://"], ["tracking.uri=sqlite:// names no file", "sqlite:///mlflow.db"],
         store=None, nothing_written=True, timeout=30),
    Case("server-fails-every-request", ["tracking.uri=http://127.0.0.1:{stub}"],
         ["the MLflow tracking server at http://127.0.0.1:{stub} failed", "tracking=none"], store=None,
         absent=("mlflow.db", "mlruns")),
    Case("sample-server-fails-every-request", [RUN_ID, "--tracking-uri", "http://127.0.0.1:{stub}"],
         ["the MLflow tracking server at http://127.0.0.1:{stub} failed", "--tracking-uri", "checkpoint.npz"],
         store=None, sample=True),
    Case("sample-dead-server", [RUN_ID, "--tracking-uri", "http://127.0.0.1:{dead}"],
         ["cannot reach the MLflow tracking server at http://127.0.0.1:{dead}", "--tracking-uri"],
         store=None, sample=True, timeout=30),
]


class FailingServer(http.server.BaseHTTPRequestHandler):
    """A tracking server gone bad: ``/health`` says OK, every API request is an HTTP 500."""

    def _answer(self):
        code, body = (200, b"OK") if self.path.startswith("/health") else (
            500, b'{"error_code": "INTERNAL_ERROR", "message": "the backend store is gone"}')
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def stub_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> Path:
    """The directory of a real MLflow store holding one finished run."""
    home = tmp_path_factory.mktemp("seed")
    out = _run([sys.executable, "-m", "seqfw", *FAST, "hydra.run.dir=run"], home, {}, 300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert [r["status"] for r in runs(home)] == ["FINISHED"]
    return home


def prepare(case: Case, tmp: Path, seed: Path) -> None:
    """Write the case's store file into ``tmp``."""
    if case.store is None:
        if case.make == "read-only-folder":  # a folder the store would be created in
            (tmp / "shared").mkdir(mode=0o555)
        return
    path = tmp / case.store
    path.parent.mkdir(parents=True, exist_ok=True)
    good = (seed / "mlflow.db").read_bytes()
    if case.make in ("seeded", "locked", "read-only", "read-only-folder"):
        path.write_bytes(good)
    elif case.make == "truncated":
        path.write_bytes(good[: len(good) // 2])  # a whole header, half the pages
    elif case.make == "garbage":
        path.write_bytes(bytes(range(256)) * 16)
    elif case.make == "empty":
        path.write_bytes(b"")
    elif case.make == "damaged":
        path.write_bytes(good)
        _scribble_over_table(path, "experiments")
    elif case.make == "foreign":
        with contextlib.closing(sqlite3.connect(path)) as con:
            con.execute("CREATE TABLE people (name TEXT)")
            con.commit()
    elif case.make == "directory":
        path.mkdir()
    if case.make == "read-only":
        path.chmod(0o444)
    elif case.make == "read-only-folder":
        path.parent.chmod(0o555)


def _scribble_over_table(path: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with 0xff: the file keeps its size and header, the table is garbage."""
    with contextlib.closing(sqlite3.connect(path)) as con:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size: root * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))


@contextlib.contextmanager
def locked(path: Path):
    """Another process holding ``BEGIN EXCLUSIVE`` on the SQLite file ``path`` until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait(timeout=30)


def _run(cmd, cwd, env, timeout):
    return subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=cwd, env=clean_env(env),
                          timeout=timeout)


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def run_case(case: Case, root: Path, seed: Path, stub: int) -> tuple[dict, object, str | None, str | None]:
    """(the case's placeholders, the command's result, the store's digest before, after)."""
    tmp = root / case.id
    tmp.mkdir()
    prepare(case, tmp, seed)
    store = tmp / case.store if case.store else None
    before = digest(store) if store else None
    fill = {"tmp": tmp, "stub": stub, "dead": free_port()}
    module = "seqfw.sample" if case.sample else "seqfw"
    extra = [] if case.sample or case.nothing_written else FAST
    cmd = [*(NO_ROOT_POWERS if case.unprivileged else []), sys.executable, "-m", module,
           *[a.format(**fill) for a in case.args], *extra]
    with locked(store) if case.make == "locked" else contextlib.nullcontext():
        out = _run(cmd, tmp, case.env, case.timeout)
    if case.make == "read-only-folder":
        (tmp / "shared").chmod(0o755)  # so that the store can be read back, and removed
    return fill, out, before, digest(store) if store else None


@pytest.fixture(scope="module")
def results(tmp_path_factory, seed, stub_port):
    root = tmp_path_factory.mktemp("store_faults")
    with ThreadPoolExecutor(2) as pool:  # independent cases, two at a time
        return dict(zip((c.id for c in CASES), pool.map(lambda c: run_case(c, root, seed, stub_port), CASES)))


def _unprivileged_possible() -> bool:
    return not NO_ROOT_POWERS or shutil.which("setpriv") is not None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_store_fault_is_one_clear_message_and_the_store_is_left_as_it_was(case, results, seed):
    if case.unprivileged and not _unprivileged_possible():
        pytest.skip("running as root without setpriv: root can write a read-only file")
    fill, out, before, after = results[case.id]
    tmp = fill["tmp"]
    message = assert_refused(out, *[t.format(**fill) for t in case.expect])
    assert "== seqfw summary ==" not in out.stdout, message
    assert before == after, "the store file changed"
    if case.store and case.make in ("locked", "read-only", "read-only-folder"):  # readable: no run was added
        assert [r["run_id"] for r in runs(tmp / Path(case.store).parent, Path(case.store).name)] == \
               [r["run_id"] for r in runs(seed)]
    assert not [p for p in case.absent if (tmp / p).exists()]
    if case.nothing_written:
        assert sorted(p.name for p in tmp.iterdir()) == [], "refused before any work, yet something was written"


def test_a_bare_path_ending_in_db_is_an_sqlite_store(tmp_path):
    """``tracking.uri=runs.db``: MLflow 3 would take a bare path for its retired folder store and refuse it."""
    out = _run([sys.executable, "-m", "seqfw", *FAST, "tracking.uri=runs.db"], tmp_path, {}, 300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert [r["status"] for r in runs(tmp_path, "runs.db")] == ["FINISHED"]
    assert not (tmp_path / "mlflow.db").exists() and stat.S_ISREG((tmp_path / "runs.db").stat().st_mode)
