"""Service-layer fixtures: use cases against the real server, with a fixed clock."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from service.config import Settings
from service.db import Database
from service.deps import Deps
from tests.conftest import ticking_clock


@pytest.fixture(scope="module")
async def deps(settings: Settings) -> AsyncIterator[Deps]:
    db = Database.connect(settings.mongodb_uri or "", settings.database)
    await db.ensure_indexes()
    yield Deps(db=db, settings=settings, clock=ticking_clock)
    await db.client.drop_database(settings.database)
    await db.close()
