"""Crash harness: the real service as a child process, killed at a named failpoint.

A test starts `rebates serve` against the session's database server with a fresh database,
armed at one point of `service/failpoints.py`; drives it over GraphQL until the point makes
it exit hard (code 86); restarts it unarmed on the same database; and then checks what a
client and the background worker make of the half-done operation.

Starting a Python process costs ~1.7 s of imports, and a test starts two or three. So the
pool keeps two processes on standby that have already imported the service and wait for
their environment on stdin; given it, one runs exactly `rebates serve`
(`service.cli.main(["serve"])`, what `python -m service.cli serve` runs).
`REBATES_CRASH_COLD_START=1` spawns `python -m service.cli serve` for every start instead.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest
from pymongo import MongoClient
from pymongo.database import Database

from service.embedded import free_port
from service.failpoints import EXIT_CODE
from tests.children import DIE_WITH_PARENT, base_env
from tests.conftest import TEST_SECRET, Api

pytest.register_assert_rewrite("tests.crash.checks")

ROOT = Path(__file__).resolve().parents[2]
COLD = os.environ.get("REBATES_CRASH_COLD_START") == "1"
# Short leases and recovery grace, so a dead process's work is picked up within seconds.
LEASE_SECONDS = 2
RECOVERY_GRACE_SECONDS = 1
RECOVERY_INTERVAL_SECONDS = 1
FAST_RECOVERY = {"REBATES_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
                 "REBATES_RECOVERY_GRACE_SECONDS": str(RECOVERY_GRACE_SECONDS),
                 "REBATES_RECOVERY_INTERVAL_SECONDS": str(RECOVERY_INTERVAL_SECONDS)}
# Long enough for a restarted service to have run its recovery: the dead process's leases
# ran out, or its pending work aged past the grace and the next recovery pass came round.
RECOVERY_WINDOW = max(LEASE_SECONDS, RECOVERY_GRACE_SECONDS + RECOVERY_INTERVAL_SECONDS) + 1
RECOVERY_BOUND = 20.0   # seconds a restarted service may take to repair what was left
BACKLOG_BOUND = 30.0    # seconds the worker may take to drain its backlog
START_BOUND = 30.0
DEATH_BOUND = 20.0

T = TypeVar("T")

LAUNCHER = """
import json, sys
import uvicorn, service.app, service.cli  # the expensive imports, before being asked
line = sys.stdin.readline()
if not line.strip():
    sys.exit(0)
import os
os.environ.update(json.loads(line))
sys.exit(service.cli.main(["serve"]))
"""


@dataclass
class Spawned:
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    files: tuple[IO[bytes], IO[bytes]]

    def close_files(self) -> None:
        for handle in self.files:
            handle.close()


class ServicePool:
    """Spawns service processes, keeping a few pre-imported ones on standby."""

    def __init__(self, logs: Path, size: int = 2) -> None:
        self.logs = logs
        self.size = size
        self.count = 0
        self.standby: list[Spawned] = []

    def _spawn(self, command: list[str], env: dict[str, str], *,
               stdin: int | None) -> Spawned:
        self.count += 1
        stdout, stderr = (self.logs / f"service-{self.count}.{kind}" for kind in ("out", "err"))
        out, err = stdout.open("wb"), stderr.open("wb")
        process = subprocess.Popen(  # noqa: S603 - our own service, our arguments
            command, cwd=ROOT, env=env, stdin=stdin, stdout=out, stderr=err,
            start_new_session=True, preexec_fn=DIE_WITH_PARENT)
        return Spawned(process, stdout, stderr, (out, err))

    def prepare(self) -> None:
        """Top up the standby processes (they import while a test runs)."""
        while not COLD and len(self.standby) < self.size:
            self.standby.append(self._spawn([sys.executable, "-c", LAUNCHER], base_env(),
                                            stdin=subprocess.PIPE))

    def launch(self, settings: dict[str, str]) -> Spawned:
        env = {**base_env(), **settings}
        if COLD:
            return self._spawn([sys.executable, "-m", "service.cli", "serve"], env,
                               stdin=subprocess.DEVNULL)
        if not self.standby:
            self.prepare()
        spawned = self.standby.pop(0)  # the oldest: the most likely to be ready
        assert spawned.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died importing: start reports it
            spawned.process.stdin.write(json.dumps(settings).encode() + b"\n")
            spawned.process.stdin.close()
        return spawned

    def close(self) -> None:
        for spawned in self.standby:
            _kill(spawned.process)
            spawned.close_files()
        self.standby = []


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group (the service and anything it started), then reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()


@pytest.fixture(scope="session")
def service_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServicePool]:
    pool = ServicePool(tmp_path_factory.mktemp("crash-services"))
    try:
        yield pool
    finally:
        pool.close()



@dataclass
class Running:
    spawned: Spawned
    port: int
    failpoint: str
    api: Api
    started_at: float

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.spawned.process

    def stderr(self) -> str:
        return self.spawned.stderr.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.stderr().splitlines()[-lines:])


class CrashHarness:
    """One test's service processes (one at a time) on one fresh database."""

    def __init__(self, pool: ServicePool, mongo_uri: str,
                 client: MongoClient[dict[str, Any]]) -> None:
        self.pool = pool
        self.mongo_uri = mongo_uri
        self.database = f"crash_{uuid.uuid4().hex[:12]}"
        self.db: Database[dict[str, Any]] = client[self.database]
        self.client = client
        self.current: Running | None = None
        self.retired: list[Running] = []

    # -- processes -------------------------------------------------------------------------

    @property
    def api(self) -> Api:
        assert self.current is not None, "no service is running"
        return self.current.api

    def start(self, failpoint: str = "", **extra_env: str) -> Api:
        """Start the service on this test's database, armed at `failpoint` ("" = none)."""
        assert self.current is None or self.current.process.poll() is not None, \
            "a service is still running: stop it first"
        if self.current is not None:
            self._retire()
        port = free_port()
        settings = {
            "REBATES_MONGODB_URI": self.mongo_uri, "REBATES_DATABASE": self.database,
            "REBATES_JWT_SECRET": TEST_SECRET, "REBATES_DEMO": "0", "REBATES_GRAPHIQL": "0",
            "PORT": str(port), "REBATES_PORT": str(port), "REBATES_HOST": "127.0.0.1",
            "REBATES_RATE_LIMIT_PER_MINUTE": "0", "REBATES_LOG_LEVEL": "INFO",
            "REBATES_DATA_DIR": str(self.pool.logs / f"data-{self.database}"),
            "REBATES_FAILPOINTS": failpoint, **FAST_RECOVERY, **extra_env}
        spawned = self.pool.launch(settings)
        base_url = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=base_url, timeout=30)
        running = Running(spawned, port, failpoint,
                          Api(base_url=base_url, client=client, db_name=self.database),
                          time.monotonic())
        self.current = running
        self._await_ready(running)
        self.pool.prepare()  # import the next process while this test runs
        return running.api

    def restart(self, **extra_env: str) -> Api:
        """Start again on the same database, with no failpoint armed."""
        return self.start("", **extra_env)

    def _await_ready(self, running: Running) -> None:
        deadline = time.monotonic() + START_BOUND
        while True:
            code = running.process.poll()
            if code is not None:
                pytest.fail(f"the service exited with code {code} while starting "
                            f"(failpoints {running.failpoint!r}):\n{running.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if running.api.client.get("/readyz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                pytest.fail(f"the service was not ready within {START_BOUND:g} s:\n"
                            f"{running.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the running service the way an operator would (SIGTERM), then reap it."""
        running = self.current
        assert running is not None
        if running.process.poll() is None:
            running.process.terminate()
            try:
                running.process.wait(15)
            except subprocess.TimeoutExpired:
                _kill(running.process)
        self._retire()

    def _retire(self) -> None:
        assert self.current is not None
        self.current.api.client.close()
        self.current.spawned.close_files()
        self.retired.append(self.current)
        self.current = None

    def close(self) -> None:
        for running in self.processes():
            _kill(running.process)
        if self.current is not None:
            self._retire()

    # -- dying at a failpoint --------------------------------------------------------------

    def crash(self, point: str, call: Callable[[Api], object]) -> None:
        """Make a call that must kill the service at `point`: the connection drops, the
        process exits with code 86 and says which point it died at."""
        running = self.current
        armed = {item.partition("=")[0].strip() for item in running.failpoint.split(",")} \
            if running is not None else set()
        assert running is not None and point in armed, \
            f"the running service is not armed at {point}"
        try:
            answer = call(running.api)
        except httpx.TransportError:
            pass
        else:
            pytest.fail(f"the call answered instead of dying at {point} (the failpoint was "
                        f"never reached): {answer!r:.800}")
        self.await_death(point)

    def await_death(self, point: str, timeout: float = DEATH_BOUND) -> None:
        """The running service exits by itself (e.g. in its worker) at `point`."""
        running = self.current
        assert running is not None
        try:
            code = running.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the service did not die at {point} within {timeout:g} s (the "
                        f"failpoint was never reached):\n{running.tail()}")
        assert code == EXIT_CODE, \
            f"the service exited with {code}, not {EXIT_CODE}, at {point}:\n{running.tail()}"
        said = running.stderr()
        assert f"failpoint {point}: exiting" in said, \
            f"the service exited {code} but not at {point}:\n{running.tail()}"
        self._retire()

    def past_recovery(self) -> None:
        """Wait until the running service has had time to recover what a dead one left."""
        assert self.current is not None
        left = self.current.started_at + RECOVERY_WINDOW - time.monotonic()
        if left > 0:
            time.sleep(left)

    # -- reading -----------------------------------------------------------------------------

    def backlog(self) -> int:
        return int(self.api.gql("{ accrualBacklog }")["accrualBacklog"])

    def drained(self, timeout: float = BACKLOG_BOUND) -> None:
        """The worker has caught up: `accrualBacklog` reaches 0 within the bound."""
        eventually(self.backlog, lambda n: n == 0, timeout=timeout,
                   what="accrualBacklog to reach 0")

    def processes(self) -> list[Running]:
        return [*self.retired, *([self.current] if self.current else [])]


def eventually(probe: Callable[[], T], done: Callable[[T], bool], *, timeout: float,
               what: str, every: float = 0.2) -> T:
    """Poll `probe()` until `done(value)`; fail naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s; last seen: {value!r}")
        time.sleep(every)


@pytest.fixture
def crash(service_pool: ServicePool, mongo_uri: str,
          mongo_client: MongoClient[dict[str, Any]]) -> Iterator[CrashHarness]:
    harness = CrashHarness(service_pool, mongo_uri, mongo_client)
    try:
        yield harness
    finally:
        harness.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A failed crash test shows what each of its service processes wrote to stderr."""
    report: pytest.TestReport = yield
    harness = getattr(item, "funcargs", {}).get("crash")
    if report.failed and isinstance(harness, CrashHarness):
        for number, running in enumerate(harness.processes(), 1):
            report.sections.append((
                f"service process {number} (REBATES_FAILPOINTS={running.failpoint!r}, exit "
                f"{running.process.poll()}): stderr, last lines", running.tail(40)))
    return report
