"""A real Chromium (Debian's, at /usr/bin/chromium) driven by Playwright against the real
service started as a child process. The browser may reach the service on loopback and
nothing else, as on the machines the service runs on, which have no internet.

Without Chromium or the playwright package the tests are skipped, saying why (`-ra` in
pyproject's pytest options prints the reason at the end of `make test`)."""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pymongo import MongoClient

from tests.crash.conftest import CrashHarness, ServicePool

CHROMIUM = Path("/usr/bin/chromium")
NO_CHROMIUM = (f"Chromium not found at {CHROMIUM}: browser tests skipped; .ci/run installs it "
               "with apt-get install chromium")
NO_PLAYWRIGHT = ("the playwright package is not installed: browser tests skipped; "
                 "`make test` installs it from requirements/dev.txt")
# Debian's Chromium, offline and quiet: no sandbox (containers), no GPU, no calls home.
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
ARTIFACTS = Path(__file__).parent / "artifacts"


def why_no_browser() -> str | None:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return NO_CHROMIUM
    if importlib.util.find_spec("playwright") is None:
        return NO_PLAYWRIGHT
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip before any fixture starts a service for a browser that is not there."""
    reason = why_no_browser()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def service(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[CrashHarness]:
    """`rebates serve` as a child process, GraphiQL on, on a fresh database (the crash
    tests' harness: the same process start, readiness wait and clean-up)."""
    pool = ServicePool(tmp_path_factory.mktemp("browser-service"), size=1)
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    harness = CrashHarness(pool, mongo_uri, client)
    try:
        harness.start("", REBATES_GRAPHIQL="1")
        yield harness
    finally:
        harness.close()
        pool.close()
        client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Offline:
    """A browser context that reaches loopback only; it records whatever else was tried."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.blocked: list[str] = []
        self.requested: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if host in LOOPBACK:
            self.requested.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")


@pytest.fixture
def offline(browser: Any) -> Iterator[Offline]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        yield Offline(context)
    finally:
        context.close()
