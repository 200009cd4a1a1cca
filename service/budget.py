"""The request time budget: it bounds how long a client waits, not how much gets written."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("rebates")
T = TypeVar("T")


class OverBudget(Exception):
    """The work did not finish within the budget (→ 503 TIMEOUT)."""


class TimeBudget:
    """Past the budget the client is answered at once; what happens to the work depends on it.

    A read is cancelled where it stands: nothing is lost. A write is not cancelled: stopping a
    mutation between two of its writes would leave half of it stored, so it runs on to its end
    in the background (its late answer is discarded) and shutdown waits for it (`drain`).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._finishing: set[asyncio.Task[Any]] = set()

    @property
    def finishing(self) -> int:
        """Writes still running past their budget."""
        return len(self._finishing)

    async def run(self, work: Coroutine[Any, Any, T], *, finish_anyway: bool, name: str) -> T:
        """The work's result, or OverBudget when the budget runs out first."""
        task = asyncio.create_task(work, name=name)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.seconds)
        except asyncio.CancelledError:  # the request itself is cancelled: same rule
            self._let_go(task, finish_anyway)
            raise
        if task in done:
            return task.result()
        self._let_go(task, finish_anyway)
        raise OverBudget(name)

    def _let_go(self, task: asyncio.Task[Any], finish_anyway: bool) -> None:
        if finish_anyway:
            self._finishing.add(task)
            task.add_done_callback(self._finished)
        else:
            task.cancel()
            task.add_done_callback(_consume)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._finishing.discard(task)
        if task.cancelled():
            log.error("%s: cancelled before its writes were done", task.get_name())
        elif (error := task.exception()) is not None:
            log.error("%s: failed after its budget", task.get_name(), exc_info=error)
        else:
            log.info("%s: finished after its budget", task.get_name())

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for the writes still running; cancel any left after."""
        if not self._finishing:
            return
        log.info("waiting up to %g s for %d mutation(s) past their budget", grace,
                 len(self._finishing))
        _, late = await asyncio.wait(set(self._finishing), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)


def _consume(task: asyncio.Task[Any]) -> None:
    """A cancelled read's outcome is of no interest; fetched so asyncio does not report it."""
    if not task.cancelled():
        task.exception()
