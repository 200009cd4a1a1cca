"""The embedded MongoDB-compatible server (SecantusDB) as a child process.

SecantusDB is GPL, so the service never imports it: we only run its `secantusd-py`
executable and talk to it over the MongoDB wire protocol, exactly as to a real mongod.

Durable by default: the server is started with `--sync-on-commit` (every commit fsyncs the
WiredTiger log before it is acknowledged), and the service's client asks for journaled writes
anyway (`j: true`, service/db.py). Without both, a SIGKILL of the database lost acknowledged
writes (tests/service/test_durability.py; the cost is measured by `make bench`).
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)
# The server's oplog keeps its last OPLOG_ENTRIES writes (and at most an hour, its default).
# Its own default of 100,000 is two minutes of a bulk import: a change stream (live updates)
# could not resume across a short outage during one, and once full every write also pruned
# an old entry, decoding it (a sixth of the database's time in the accrual round after a
# 200,000-row import, measured with py-spy on a copy of a bench database). A million entries
# is a few hundred MB of disk, still far less than the 5 % of the disk a MongoDB replica
# set's oplog takes by default.
OPLOG_ENTRIES = 1_000_000


class EmbeddedServerError(RuntimeError):
    """The embedded database could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the database if the service dies without cleaning up."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _terminate_main_thread(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the database's main thread, not just its process.

    The database handles SIGTERM in Python, which runs handlers only in the main thread,
    and its main thread sleeps on a lock. A signal sent to the process is delivered to any
    thread that does not block it; when the kernel picks another thread, CPython sets its
    flag but the main thread's lock wait is not interrupted, and the database never stops
    (about one stop in ten hung until our kill). `tgkill` addresses the main thread (its
    thread id is the process id), whose lock wait then returns EINTR and runs the handler.
    """
    if sys.platform == "linux":
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            if libc.tgkill(proc.pid, proc.pid, int(signal.SIGTERM)) == 0:
                return
    proc.send_signal(signal.SIGTERM)


def _executable(command: str) -> str:
    """Prefer the executable beside the running interpreter (the project's virtualenv)."""
    beside = Path(sys.executable).parent / command
    if beside.exists():
        return str(beside)
    found = shutil.which(command)
    if not found:
        raise EmbeddedServerError(
            f"'{command}' not found: install the embedded extra (pip install '.[embedded]') "
            "or set REBATES_MONGODB_URI")
    return found


class EmbeddedServer:
    """Start/stop one `secantusd-py` on loopback with its files under `storage_path`.

    `sync_on_commit=False` starts it as SecantusDB's own default does (no fsync on commit:
    an acknowledged write can be lost if the process dies); only the bench's and the
    durability test's comparisons use it.
    """

    def __init__(self, storage_path: Path | str, *, command: str = "secantusd-py",
                 host: str = "127.0.0.1", port: int | None = None,
                 log_path: Path | None = None, sync_on_commit: bool = True) -> None:
        self.storage_path = storage_path
        self.command = command
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.sync_on_commit = sync_on_commit
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: object = None

    @property
    def uri(self) -> str:
        # retryWrites off: the embedded server slows every write down once it has tracked
        # some thousands of retryable ones (measured by make bench); it is one local process
        return f"mongodb://{self.host}:{self.port}/?directConnection=true&retryWrites=false"

    def start(self, timeout: float = 30.0) -> str:
        if isinstance(self.storage_path, Path):
            self.storage_path.mkdir(parents=True, exist_ok=True)
        log_target = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self._log_file = log_target
        args = [_executable(self.command), "--host", self.host, "--port", str(self.port),
                "--storage-path", str(self.storage_path), "--log-level", "WARNING",
                "--oplog-max-entries", str(OPLOG_ENTRIES)]
        if self.sync_on_commit:
            args.append("--sync-on-commit")
        self._proc = subprocess.Popen(  # noqa: S603 - fixed executable, our arguments
            args, stdout=log_target, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self._wait_ready(timeout)
        log.info("embedded database on %s:%s (files in %s)", self.host, self.port,
                 self.storage_path)
        return self.uri

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise EmbeddedServerError(
                    f"embedded database exited with code {self._proc.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else ""))
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise EmbeddedServerError(f"embedded database not ready within {timeout:.0f}s")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def kill(self) -> None:
        """SIGKILL the database, as a crash would (the durability test)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            _terminate_main_thread(proc)
            if not self._knock_until_stopped(proc, timeout):
                log.warning("embedded database did not stop in %.0fs; killing it", timeout)
                proc.kill()
                proc.wait()
        if self._log_file not in (None, subprocess.DEVNULL):
            with contextlib.suppress(Exception):
                self._log_file.close()  # type: ignore[attr-defined]
        self._log_file = None

    def _knock_until_stopped(self, proc: subprocess.Popen[bytes], timeout: float) -> bool:
        """Wait for a clean stop, fast. On SIGTERM the database closes its listening socket,
        but its accept thread stays blocked in accept() (closing a socket does not wake it
        on Linux) and it waits 2 s for that thread before closing its files. A connection
        attempt wakes it: knock every 50 ms (sending nothing) until it has stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            try:
                proc.wait(0.05)
            except subprocess.TimeoutExpired:
                continue
            return True
        return False

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
