"""What every use case needs, passed explicitly: the database, settings and a clock."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from service.config import Settings
from service.db import Database
from service.feed import AccrualFeed


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Deps:
    db: Database
    settings: Settings
    clock: Callable[[], dt.datetime] = field(default=utc_now)
    # Called after work was queued, to wake the in-process accrual worker at once.
    notify_worker: Callable[[], None] = field(default=lambda: None)
    # The process's follower of accrual changes, for live subscriptions (service/feed.py).
    accrual_feed: AccrualFeed | None = None

    def now(self) -> dt.datetime:
        """Stored timestamps: UTC, millisecond precision (what BSON keeps)."""
        moment = self.clock()
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def today(self) -> dt.date:
        """The business date in the configured time zone."""
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()
