"""Where an MLflow store may be, and whether an SQLite store file can be used: checked before MLflow opens it.

Why seqfw checks at all: MLflow 3 meets a damaged, locked or read-only SQLite file with a traceback
(after waiting on a locked one), turns an empty file into a new store without a word,
retires the plain-folder (file) store with a traceback, and lets several processes migrate a new
store at once, so that one of two runs started together crashes. Each check here either passes or
raises ``StoreProblem`` with one paragraph saying what is wrong and how to fix it;
``seqfw.runner.tracking`` (the only MLflow import) turns that into a ``TrackingError``. Only the
standard library: the checks read the file's 100-byte header and ask SQLite itself, O(1) in the
size of the store.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from pathlib import Path

LOCK_WAIT_S = 5.0  # a store locked by another process for longer than this is refused, not waited on
SETUP_WAIT_S = 120.0  # how long another seqfw process may hold a store's set-up lock (a migration takes seconds)
SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")  # what MLflow 3 can track to
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")  # a bare path ending so is taken for an SQLite file
MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database
OR_NONE = "or run without tracking: tracking=none"


class StoreProblem(Exception):
    """A store seqfw will not use; the message is the whole paragraph for the user."""


def _choices(key: str) -> str:
    return (f"Set {key} to sqlite:///PATH/mlflow.db (a local file), http(s)://HOST:PORT (an MLflow server) or "
            f"postgresql://... / mysql://... (a database), {fallback(key)}.")


def normalise(uri: str, key: str) -> str:
    """``uri`` as MLflow should get it (an SQLite path made absolute, a bare ``*.db`` path read as SQLite);
    ``StoreProblem`` for what MLflow 3 cannot keep runs in. ``key`` names where the URI came from."""
    scheme = uri.partition(":")[0].partition("+")[0].lower() if "://" in uri or uri.startswith("sqlite:") else ""
    if scheme in ("", "file"):
        return _folder(uri, key)
    if scheme == "sqlite":
        path, sep, query = uri[len("sqlite:"):].removeprefix("///").partition("?")
        if not uri.startswith("sqlite:///") or not path:
            raise StoreProblem(f"{key}={uri} names no file: an in-memory SQLite store forgets every run when the "
                               f"process ends. Give a path after three slashes ({key}=sqlite:///mlflow.db, or four "
                               f"for an absolute one: sqlite:////home/me/mlflow.db), {fallback(key)}.")
        return "sqlite:///" + str(Path(path).resolve()) + sep + query
    if scheme not in SCHEMES:
        raise StoreProblem(f"{key}={uri}: MLflow cannot keep runs at '{scheme}:' addresses. {_choices(key)}")
    return uri


def _folder(uri: str, key: str) -> str:
    """A bare path or a ``file:`` URI: an SQLite file if it ends in .db, else MLflow's retired folder store."""
    path = Path(uri.removeprefix("file://") if uri.startswith("file://") else uri).expanduser().resolve()
    if not uri.startswith("file:") and path.suffix in SQLITE_SUFFIXES:
        return "sqlite:///" + str(path)
    if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() == "true":  # MLflow's own opt-in, honoured
        return path.as_uri()
    raise StoreProblem(f"{key}={uri} is a folder store, which MLflow 3 has retired (it refuses to open one). Keep "
                       f"runs in an SQLite file instead: {key}=sqlite:///{path / 'mlflow.db'} (a bare path ending in "
                       f".db means the same), or an MLflow server {key}=http://HOST:PORT, {fallback(key)}. "
                       "(MLFLOW_ALLOW_FILE_STORE=true opens an old folder store anyway.)")


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI (query string dropped), else None."""
    return Path(uri[len("sqlite:///"):].partition("?")[0]) if uri.startswith("sqlite:///") else None


def check_file(path: Path, write: bool, key: str) -> None:
    """``StoreProblem`` unless the existing SQLite store ``path`` can be read (and written, with ``write``).

    Nothing here writes to the file: a store refused is left byte for byte as it was."""
    fix = _fix(key)
    if path.is_dir():
        raise StoreProblem(f"the MLflow store {path} is a directory, not an SQLite file. Point {key} at a file "
                           f"inside it (sqlite:///{path / 'mlflow.db'}), {fallback(key)}.")
    _check_header(path, key)
    if write and not os.access(path, os.W_OK):
        raise StoreProblem(f"the MLflow store {path} is read-only, and a training run writes to it. Make it "
                           f"writable (chmod u+w {path}), or {fix}.")
    if write and not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreProblem(f"the folder {path.parent} of the MLflow store {path} is not writable, and SQLite writes "
                           f"a journal file next to the store on every change. Make the folder writable, or {fix}.")
    _ask_sqlite(path, write, key)


def _fix(key: str) -> str:
    return f"point {key} at another store, {fallback(key)}"


def fallback(key: str) -> str:
    """The way around a store that cannot be used: training runs without one; the sampler takes the file."""
    return "or give the run's checkpoint.npz file instead" if key.startswith("--") else OR_NONE


def _aside(path: Path) -> str:
    return f"mv {path} {path}.broken"


def _check_header(path: Path, key: str) -> None:
    """An unreadable file, an empty one, or one that is not SQLite."""
    fix = _fix(key)
    try:
        size, head = path.stat().st_size, _head(path)
    except OSError as err:
        raise StoreProblem(f"the MLflow store {path} cannot be read ({err.strerror}). Make it readable, or "
                           f"{fix}.") from None
    if size == 0:
        raise StoreProblem(f"the MLflow store {path} is an empty file (0 bytes), not an SQLite database; seqfw "
                           f"does not turn an existing file into a new store. If it is meant to be a new store, "
                           f"remove it (rm {path}) and run again; otherwise {fix}.")
    if not head.startswith(MAGIC):
        raise StoreProblem(f"the MLflow store {path} is not an SQLite database (it does not start with SQLite's "
                           f"header); seqfw leaves it as it is. Point {key} at the right file, or move this one "
                           f"aside ({_aside(path)}) to start a new store, {fallback(key)}.")


def _truncated(path: Path, key: str) -> str | None:
    """The paragraph for a file shorter than its header says (a copy or a disk that stopped short), else None.
    Read under SQLite's read lock: a commit of another process may grow the file after writing its header."""
    size, expected = path.stat().st_size, _header_size(_head(path), path)
    if expected <= size:
        return None
    return (f"the MLflow store {path} is truncated: it holds {size} bytes, its header says {expected} (a copy or "
            f"a disk that stopped short). Restore it from a complete copy or a backup; to start a new store "
            f"instead, move it aside ({_aside(path)}); {fallback(key)}.")


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(100)


def _header_size(head: bytes, path: Path) -> int:
    """The size in bytes the header declares (100 for a header cut short), or 0 where it does not tell.

    The page count (bytes 28-31) is valid only while the change counter (24-27) equals the
    version-valid-for number (92-95); a hot journal or a WAL means the file is mid-change, and
    SQLite will put it right itself."""
    if len(head) < 100:
        return 100
    if any(Path(f"{path}{end}").exists() for end in ("-journal", "-wal")):
        return 0
    page_size = int.from_bytes(head[16:18], "big")
    pages = int.from_bytes(head[28:32], "big")
    valid = pages > 0 and head[24:28] == head[92:96]
    return pages * (65536 if page_size == 1 else page_size) if valid else 0


def _ask_sqlite(path: Path, write: bool, key: str) -> None:
    """Read the schema (and take the write lock, with ``write``) for at most LOCK_WAIT_S; nothing is written.
    A database without MLflow's tables is refused (a valid but empty one is a new store when writing)."""
    con, tables = None, set()
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode={'rw' if write else 'ro'}", uri=True, timeout=LOCK_WAIT_S,
                              isolation_level=None)
        con.execute("BEGIN")
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if problem := _truncated(path, key):
            raise StoreProblem(problem)
        con.execute("ROLLBACK")
        if write:  # the lock a write needs; a read-only file or one another process holds fails here
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
    except sqlite3.Error as err:  # a cut-short file often fails as "malformed": say which
        raise StoreProblem(_truncated(path, key) or sqlite_message(path, str(err), key)) from None
    finally:
        if con is not None:
            con.close()
    if "experiments" not in tables and (tables or not write):  # MLflow would add its tables to it
        what = f"another database (its tables: {', '.join(sorted(tables)[:5])})" if tables else "an empty database"
        raise StoreProblem(f"{path} is not an MLflow store but {what}; seqfw leaves it as it is. Point {key} at "
                           f"the MLflow store (its own file), {fallback(key)}.")


def sqlite_message(path: Path, detail: str, key: str) -> str:
    """The paragraph for an error SQLite gave on ``path``: locked, read-only, or damaged."""
    fix = _fix(key)
    if "locked" in detail or "busy" in detail:
        return (f"the MLflow store {path} is locked by another process (still after {LOCK_WAIT_S:.0f} s: {detail}). "
                f"Wait for that process to end or stop it (`fuser {path}` shows it), or {fix}.")
    if "readonly" in detail or "read-only" in detail:
        return f"the MLflow store {path} cannot be written ({detail}). Make it and its folder writable, or {fix}."
    if "unable to open" in detail or "I/O error" in detail:
        return (f"the MLflow store {path} cannot be opened or read ({detail}). Check the file, its folder and the "
                f"disk under them, or {fix}.")
    if "malformed" in detail or "not a database" in detail or "corrupt" in detail:
        return (f"the MLflow store {path} is damaged ({detail}). Restore it from a backup, or move it aside "
                f"({_aside(path)}) to start a new store, or {fix}.")
    if "Permission denied" in detail or "Errno 13" in detail:
        return (f"the MLflow store {path} cannot keep this run: {detail}. Make that path writable (a store's "
                f"artifacts go to ./mlruns beside where it was created), or {fix}.")
    return f"the MLflow store {path} refused the request ({detail}). Check what it names, or {fix}."


@contextlib.contextmanager
def setup_lock(path: Path | None):
    """Hold an exclusive lock on the folder of the SQLite store ``path`` (nothing for other stores).

    Two processes opening a new store would both create and migrate its schema (MLflow does not
    serialise that); under this lock, one creates it and the others then find it ready. A lock on
    the folder leaves no lock file behind; where the file system cannot lock (some network file
    systems), the runs go on without it."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened: MLflow will say what is wrong with it
        fd = None
    if fd is None:
        yield
        return
    try:
        _acquire(fd, path)
        yield
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, path: Path) -> None:
    deadline = time.monotonic() + SETUP_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise StoreProblem(
                    f"another process has been setting up the MLflow store {path} for {SETUP_WAIT_S:.0f} s (it "
                    f"holds the lock on {path.parent}). Stop it if it hangs, or point tracking.uri at another "
                    f"store, {OR_NONE}.") from None
            time.sleep(0.05)
        except OSError:  # no locks on this file system
            return
