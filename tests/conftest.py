"""Shared fixtures: one real embedded server per session, a fresh database per module."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from pymongo import MongoClient, monitoring

from service.auth import Role, issue_token
from service.config import Settings
from service.embedded import EmbeddedServer, free_port

TEST_SECRET = "test-secret-" + "x" * 40
FIXED_NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
_STARTED = time.monotonic()


SLOW_KINDS = ("crash", "browser")  # markers whose tests are slow by nature


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fault-injection and browser tests (each starts and kills real processes) are
    `slow` too: `make test` leaves them out, CI runs them (Makefile, .ci/run)."""
    for item in items:
        if any(item.get_closest_marker(kind) for kind in SLOW_KINDS):
            item.add_marker(pytest.mark.slow)


def ticking_clock() -> dt.datetime:
    """Today is always 2026-11-20 (figures stay put), but time ticks, so "recorded after the
    period was closed" means what it says."""
    return FIXED_NOW + dt.timedelta(seconds=time.monotonic() - _STARTED)


class CommandCounter(monitoring.CommandListener):
    """Counts the commands every client of this process sends, per database."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.names: dict[str, list[str]] = {}
        self.collections: dict[str, list[str | None]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.counts[event.database_name] += 1
        self.names.setdefault(event.database_name, []).append(event.command_name)
        target = event.command.get(event.command_name)
        self.collections.setdefault(event.database_name, []).append(
            target if isinstance(target, str) else None)

    def on(self, database: str, collections: set[str]) -> int:
        """Commands sent so far on these collections of a database (a request's reads,
        leaving out what the in-process worker polls meanwhile)."""
        return sum(1 for name in self.collections.get(database, []) if name in collections)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COMMANDS = CommandCounter()
monitoring.register(COMMANDS)  # before any client exists, so every client reports


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real embedded MongoDB-compatible server, over the wire (or REBATES_TEST_MONGODB_URI)."""
    given = os.environ.get("REBATES_TEST_MONGODB_URI")
    if given:
        yield given
        return
    path = tmp_path_factory.mktemp("secantus")
    server = EmbeddedServer(path / "db", log_path=path / "secantusd.log")
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    """A plain synchronous client of the test server, for looking at what was stored."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def db_name(request: pytest.FixtureRequest) -> str:
    module = request.module.__name__.rsplit(".", 1)[-1][:30]
    return f"t_{module}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def settings(mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(mongodb_uri=mongo_uri, database=db_name, jwt_secret=TEST_SECRET,
                    demo=False, data_dir=tmp_path_factory.mktemp("data"))


@dataclass
class Api:
    """A CRM / portal client: GraphQL over HTTP with a bearer token per role."""

    base_url: str
    client: httpx.Client
    db_name: str
    tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)

    def token(self, role: str = "ADMIN", dealer: str | None = None, **claims: Any) -> str:
        key = (role, dealer)
        if key not in self.tokens:
            self.tokens[key] = issue_token(TEST_SECRET, sub=f"test-{role.lower()}",
                                           role=Role(role), dealer=dealer)
        return self.tokens[key]

    def post(self, query: str, variables: dict[str, Any] | None = None, *,
             role: str | None = "ADMIN", dealer: str | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"content-type": "application/json", **(headers or {})}
        if role is not None:
            sent["authorization"] = f"Bearer {self.token(role, dealer)}"
        return self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                headers=sent)

    def gql(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Run an operation that must succeed; returns `data`."""
        response = self.post(query, variables, **kwargs)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
        return body["data"]

    def commands(self, collections: set[str] | None = None) -> int:
        if collections is not None:
            return COMMANDS.on(self.db_name, collections)
        return COMMANDS.counts[self.db_name]


@contextlib.contextmanager
def serving(settings: Settings,
            clock: Callable[[], dt.datetime] | None = None) -> Iterator[str]:
    """Run the real service (uvicorn, lifespan and all) on a loopback port; yield its URL.
    `clock`: the service's clock (default: the tests' fixed, ticking one)."""
    from service.app import create_app

    port = free_port()
    app = create_app(settings, clock=clock or ticking_clock)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "service did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[Api]:
    """The real service against this module's database, and a client for it."""
    with serving(settings) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        yield Api(base_url=base_url, client=client, db_name=settings.database)
