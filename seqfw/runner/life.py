"""A run's life and how it ends: signals, sections a signal must not cut, directory locks.

One ``Signals`` object per process owns SIGINT, SIGTERM, SIGHUP and SIGQUIT from the moment the command line
starts (or ``fit`` is called from Python) until the process ends:

* **outside a run's loop** a signal stops at once: an ``Interrupted`` is raised wherever the
  program is (building the task, creating the MLflow run, logging the model);
* **in the loop** the first signal is a request: the step finishes, the state is saved, then
  the loop raises ``Interrupted`` with the checkpoint's path; a second signal stops at once;
* **in a protected section** (creating the MLflow run, writing a checkpoint, writing the run's
  terminal state) a signal is only noted, and delivered when the section ends, so that no run
  is left half-created and no terminal state half-written;
* once an ``Interrupted`` is on its way, further signals are only counted: five Ctrl-C in a
  row end exactly like one.

``fit`` (``seqfw.runner.loop``) catches what is raised and writes the run's terminal state itself.

A directory lock (``hold_directory``) says that a live process owns a run's output directory:
a resume refuses a checkpoint whose directory another process holds, and a run found RUNNING
in the store whose directory nobody holds was killed (``kill -9``, a crash).

``phase(name)`` marks the points of a run's life where the tests stop it: with
``SEQFW_TEST_PAUSE_AT=<name>`` the process says so on stderr and waits there for a signal,
with ``SEQFW_TEST_FAULT_AT=<name>:MemoryError`` (or ``RuntimeError``) it raises there. Both are
for the test suite (tests/reliability/test_run_life.py); nothing else reads them.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

# the signals that stop a run: Ctrl-C, a scheduler's or kill's TERM, the terminal (or ssh session)
# closing, Ctrl-\ (which would otherwise dump core and leave the run RUNNING)
STOPS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))
PHASES = ("setup", "tracker", "loop", "checkpoint", "model", "finish")
FAULTS = {"MemoryError": MemoryError, "RuntimeError": RuntimeError}


class Interrupted(BaseException):
    """SIGINT or SIGTERM stopped the run.

    ``step``/``path``: the step after which the state was saved and where (None when the stop
    came at once, outside the loop or on a second signal); ``last_good``: the last periodic
    checkpoint ``(step, path)`` when nothing was saved now; ``status``: the run's status in the
    store after the stop (None: no run was created); ``run_id``. A BaseException, like
    KeyboardInterrupt: code that catches ``Exception`` must not swallow a stop the user asked for.
    """

    def __init__(self, signum: int, step: int | None = None, path: str | None = None):
        self.signum, self.step, self.path = signum, step, path
        self.last_good: tuple[int, str] | None = None
        self.count = 1  # signals received by then: more than one means "at once, on a second signal"
        self.complete = False  # every training step was done (the stop came while the run was being finished)
        self.status: str | None = None
        self.run_id: str | None = None
        super().__init__(f"{signal.Signals(signum).name}" + (f" at step {step}" if step is not None else ""))

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


class Signals:
    """SIGINT, SIGTERM, SIGHUP, SIGQUIT for the whole process; see the module's docstring for what a signal
    does where."""

    def __init__(self):
        self.signum: int | None = None  # the first signal of the current run
        self.count = 0
        self._graceful = 0  # depth of loop sections: the first signal waits for the step's end
        self._deferred = 0  # depth of protected sections
        self._delivered = False  # an Interrupted was raised: later signals are only counted
        self._installed = False

    def install(self) -> Signals:
        """Take the stopping signals (idempotent). Outside the main thread (a launcher's worker thread)
        Python cannot take signals, and this does nothing."""
        if not self._installed and threading.current_thread() is threading.main_thread():
            for sig in STOPS:
                signal.signal(sig, self._handle)
            self._installed = True
        return self

    def restore(self, handlers: dict) -> None:
        """Give the signals back to ``handlers`` (``{signal: handler}``, as ``signal.getsignal`` read them before
        ``install``): ``seqfw.run`` borrows them for one run, and a notebook's Ctrl-C is its own again after."""
        if self._installed and threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            self._installed = False

    def quiet(self) -> None:
        """The process is about to exit with its state written: later signals are ignored, so that the
        exit status stays the one reported (Python restores the default handlers while it shuts down)."""
        if self._installed:
            for sig in STOPS:
                signal.signal(sig, signal.SIG_IGN)

    def take_pending(self) -> int | None:
        """The signal that came while a run was being finished (only counted then, never raised), forgotten
        here; None if none came. ``seqfw.run`` reports it once its run is stored, instead of letting it stop
        the next run before it starts."""
        pending = None if self._delivered else self.signum
        self.signum, self.count, self._delivered = None, 0, False
        return pending

    def begin_run(self) -> None:
        """A new run starts in this process: a signal that arrived and was never delivered (while a
        finished run was being closed) stops now; one already delivered is forgotten."""
        if self.signum is not None and not self._delivered:
            self._deliver_now()
        self.signum, self.count, self._delivered = None, 0, False

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        if self._delivered or self._deferred or (self._graceful and self.count == 1):
            return
        self._deliver_now()

    def _deliver_now(self) -> None:
        self._delivered = True
        stop = Interrupted(self.signum)
        stop.count = self.count
        raise stop

    @property
    def requested(self) -> bool:
        """A signal asked the loop to save and stop after the current step."""
        return self.signum is not None and not self._delivered

    def delivered(self) -> None:
        """The loop raises the stop itself (with its checkpoint): later signals are only counted."""
        self._delivered = True

    @contextlib.contextmanager
    def protected(self):
        """A section no signal cuts short; a signal that came meanwhile is delivered at its end."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
        if not self._deferred and self.signum is not None and not self._delivered and not (
                self._graceful and self.count == 1):
            self._deliver_now()

    @contextlib.contextmanager
    def ending(self):
        """Writing a run's terminal state: every signal meanwhile is only counted, never raised."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1

    @contextlib.contextmanager
    def loop(self):
        """The training loop: the first signal is a request to save and stop after the step."""
        self._graceful += 1
        try:
            yield
        finally:
            self._graceful -= 1


SIGNALS = Signals()


def phase(name: str) -> None:
    """The run enters ``name`` (one of PHASES); the tests' pause and fault injection act here."""
    if os.environ.get("SEQFW_TEST_PAUSE_AT") == name:
        print(f"seqfw: paused at {name}", file=sys.stderr, flush=True)
        deadline = time.monotonic() + 60
        while SIGNALS.signum is None and time.monotonic() < deadline:  # a signal ends the wait
            time.sleep(0.02)
    fault = os.environ.get("SEQFW_TEST_FAULT_AT", "")
    if fault.partition(":")[0] == name:
        kind = FAULTS.get(fault.partition(":")[2], RuntimeError)
        raise kind(f"injected at {name} (SEQFW_TEST_FAULT_AT)")


# -- directory locks ---------------------------------------------------------------------------
_HELD: dict[Path, int] = {}  # directory -> open descriptor holding its lock, for this process


def hold_directory(directory: Path) -> bool:
    """Lock ``directory`` for this process's life (until ``release_directory``); False if another
    process holds it. Without ``fcntl`` (Windows) every lock succeeds."""
    try:
        import fcntl
    except ImportError:
        return True
    directory = Path(directory).resolve()
    if directory in _HELD:
        return True
    if not directory.is_dir():
        return True  # nothing there to protect
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _HELD[directory] = fd
    return True


def held_directories() -> set[Path]:
    """The directories this process holds now."""
    return set(_HELD)


def release_directory(directory: Path) -> None:
    fd = _HELD.pop(Path(directory).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the lock


def held_elsewhere(directory: Path) -> bool:
    """Another live process holds ``directory``'s lock (tried and, if free, let go at once)."""
    directory = Path(directory).resolve()
    if directory in _HELD or not directory.is_dir():
        return False
    if not hold_directory(directory):
        return True
    release_directory(directory)
    return False
