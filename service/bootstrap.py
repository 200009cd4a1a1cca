"""Wiring: the one place that builds what the service runs on, and takes it down again.

`bootstrap` reads nothing but the settings it is given: it starts the embedded database
unless REBATES_MONGODB_URI names one, connects and ensures the indexes, builds the use
cases' `Deps` (clock, and the wake-up of the in-process accrual worker), the worker, and
loads the demo data into an empty database. `shutdown` undoes it in reverse order. The
Starlette lifespan (service/app.py) and the command line (service/cli.py) use these; tests
and tools build narrower sets of the same parts. (cosmicpython's `bootstrap.py`.)
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from service import demo
from service.command_times import CommandTimes
from service.config import Settings, get_settings
from service.db import Database
from service.deps import Deps, utc_now
from service.embedded import EmbeddedServer
from service.feed import AccrualFeed
from service.logs import configure_logging
from service.repositories import changes, outbox
from service.webhooks import WebhookDeliverer
from service.worker import AccrualWorker

log = logging.getLogger("rebates")


@dataclass
class Runtime:
    """What a running service holds: its dependencies, its worker (not yet started) and the
    embedded database it started, if any."""

    deps: Deps
    worker: AccrualWorker
    embedded: EmbeddedServer | None = None


def configured_settings() -> Settings:
    """The process's settings, read once, with logging set up as they say."""
    settings = get_settings()
    configure_logging(settings)
    return settings


async def _database_uri(settings: Settings) -> tuple[str, EmbeddedServer | None]:
    if settings.mongodb_uri:
        return settings.mongodb_uri, None
    data_dir = settings.data_dir
    embedded = EmbeddedServer(data_dir / "db", command=settings.embedded_command,
                              log_path=data_dir / "secantusd.log")
    data_dir.mkdir(parents=True, exist_ok=True)
    return await asyncio.to_thread(embedded.start, settings.embedded_start_timeout), embedded


async def bootstrap(settings: Settings, *,
                    clock: Callable[[], dt.datetime] = utc_now) -> Runtime:
    """Everything ready to serve, the worker still stopped; on failure nothing is left
    running (the database closed, the embedded server stopped)."""
    uri, embedded = await _database_uri(settings)
    listeners = [CommandTimes(settings.command_times)] if settings.command_times else []
    db = Database.connect(uri, settings.database, event_listeners=listeners)
    try:
        await db.ensure_indexes()
        await outbox.ensure_indexes(db)
        await changes.ensure_collection(db)  # live updates: announced accrual changes
        deps = Deps(db=db, settings=settings, clock=clock, accrual_feed=AccrualFeed(db))
        worker = AccrualWorker(deps, webhooks=WebhookDeliverer(deps))
        deps.notify_worker = worker.wake
        if settings.demo and await demo.is_empty(deps):
            await demo.load(deps)
            log.info("demo dataset loaded (REBATES_DEMO=0 skips it)")
    except BaseException:
        await _close(db, embedded)
        raise
    return Runtime(deps, worker, embedded)


async def shutdown(runtime: Runtime) -> None:
    """Stop the worker, close the database, stop the embedded server (if one was started)."""
    try:
        if runtime.deps.accrual_feed is not None:  # its subscriptions complete
            await runtime.deps.accrual_feed.stop()
        await runtime.worker.stop()
    finally:
        await _close(runtime.deps.db, runtime.embedded)


async def _close(db: Database, embedded: EmbeddedServer | None) -> None:
    try:
        await db.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
