"""The process's one follower of the published accrual changes, and its listeners.

Every live subscription (service/usecases/live.py) listens here. While anyone listens, the
feed follows the changes collection (service/repositories/changes.py) — a change stream where
the server has one, else a poll every `poll_seconds` — and hands each change to the listeners
it concerns; with no listener it reads nothing. A listener coalesces what arrives while its
subscriber is busy (a bulk import's rounds), so what it holds is bounded by the program periods
it watches, never by the number of changes.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from service.db import Database
from service.repositories.changes import (
    AccrualChange,
    ChangePoller,
    ChangeStreamsUnsupported,
    ChangeWatcher,
    merged,
)

log = logging.getLogger(__name__)
CLOSE_SECONDS = 2.0  # a change stream's close asks the server; never wait long for it


class Listener:
    """One subscription's share of the feed: the changes that concern it, merged."""

    def __init__(self, dealer_code: str | None, program_code: str | None) -> None:
        self.dealer_code = dealer_code
        self.program_code = program_code
        self._pending: list[AccrualChange] = []
        self._arrived = asyncio.Event()
        self._closed = False

    def concerns(self, change: AccrualChange) -> bool:
        if self.program_code is not None and change.program_code != self.program_code:
            return False
        return self.dealer_code is None or change.dealer_codes is None \
            or self.dealer_code in change.dealer_codes

    def add(self, change: AccrualChange) -> None:
        if self.dealer_code is not None:  # only its own dealer, whatever the batch held
            change = AccrualChange(change.program_code, change.period,
                                   frozenset({self.dealer_code}))
        self._pending = merged([*self._pending, change])
        self._arrived.set()

    def close(self) -> None:
        self._closed = True
        self._arrived.set()

    async def changes(self) -> list[AccrualChange] | None:
        """What changed since the last call, once there is something; None once the feed
        has stopped."""
        await self._arrived.wait()
        self._arrived.clear()
        found, self._pending = self._pending, []
        if not found and self._closed:
            return None
        return found


class AccrualFeed:
    def __init__(self, db: Database, *, polling: bool = False, poll_seconds: float = 0.25,
                 wait_seconds: float = 1.0, ready_seconds: float = 5.0,
                 retry_seconds: float = 1.0) -> None:
        self.db = db
        self.polling = polling  # also set when the server turns out to have no change streams
        self.poll_seconds = poll_seconds
        self.wait_seconds = wait_seconds
        self.ready_seconds = ready_seconds
        self.retry_seconds = retry_seconds
        self._listeners: set[Listener] = set()
        self._wanted = asyncio.Event()
        self._ready = asyncio.Event()
        self._reader: ChangeWatcher | ChangePoller | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def mode(self) -> str:
        return "polling" if self.polling else "change stream"

    @contextlib.asynccontextmanager
    async def listen(self, dealer_code: str | None,
                     program_code: str | None) -> AsyncIterator[Listener]:
        """A listener of the changes made from the moment the feed follows them (waited
        for, up to `ready_seconds`: a database out of reach does not hold the caller)."""
        listener = Listener(dealer_code, program_code)
        if self._stopped:
            listener.close()
        else:
            self._listeners.add(listener)
            self._wanted.set()
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._run(), name="accrual-feed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self.ready_seconds)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)

    async def stop(self) -> None:
        """Ends every listener (their subscriptions complete) and the follower."""
        self._stopped = True
        for listener in self._listeners:
            listener.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is away: listeners wait, we retry
                log.warning("accrual changes: following them failed (%s); retrying in %g s",
                            error, self.retry_seconds)
                await asyncio.sleep(self.retry_seconds)
            if not self._listeners:
                self._wanted.clear()
                self._reader = None  # the next listener starts from its own "now"

    async def _follow(self) -> None:
        reader = await self._open()
        try:
            self._ready.set()
            while self._listeners:
                for change in await reader.read():
                    for listener in list(self._listeners):
                        if listener.concerns(change):
                            listener.add(change)
                if self.polling:
                    await asyncio.sleep(self.poll_seconds)
        finally:
            self._ready.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.close(), CLOSE_SECONDS)

    async def _open(self) -> ChangeWatcher | ChangePoller:
        if self._reader is None:
            self._reader = ChangePoller(self.db) if self.polling \
                else ChangeWatcher(self.db, wait_seconds=self.wait_seconds)
        try:
            await self._reader.open()
        except ChangeStreamsUnsupported as error:
            log.info("accrual changes: the database has no change streams (%s); polling "
                     "every %g s", error, self.poll_seconds)
            self.polling = True
            self._reader = ChangePoller(self.db)
            await self._reader.open()
        return self._reader
