"""An acknowledged write survives a crash of the database process (issue 8, "Durability").

A writer inserts documents one at a time through the service's own client
(`Database.connect`, so the service's write concern is what is tested) and records every
acknowledged `_id`; the database process is SIGKILLed while it writes, a few milliseconds
to 50 ms into a stretch of writes; the server is restarted on the same files and every
acknowledged insert must be there. Several rounds on one storage path.

With SecantusDB's own defaults (no `--sync-on-commit`) and the driver's default write
concern, such crashes lost acknowledged writes; `run_rounds(..., durable=False)` is that
configuration, kept so the comparison can be re-run by hand:

    .venv/bin/python -m tests.service.test_durability
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo.errors import PyMongoError

from service.db import Database
from service.embedded import EmbeddedServer

ROUNDS = 6
WARM_UP_WRITES = 20  # acknowledged before the crash window opens (connection, collection)
WINDOW_SECONDS = 0.05  # the crash lands up to this long into the stretch of writes


@dataclass
class Outcome:
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    per_round: list[tuple[int, int]] = field(default_factory=list)  # (acknowledged, lost)
    seconds: float = 0.0


async def _write_until_killed(db: Database, prefix: str, acked: list[str],
                              crashed: asyncio.Event) -> None:
    """One insert at a time; an `_id` counts once its insert was acknowledged."""
    collection = db.db["writes"]
    n = 0
    while not crashed.is_set():
        _id = f"{prefix}-{n:06d}"
        try:
            await collection.insert_one({"_id": _id, "n": n})
        except PyMongoError:
            return  # the database went away mid-write: that one was never acknowledged
        acked.append(_id)
        n += 1


async def _one_round(server: EmbeddedServer, prefix: str, rng: random.Random,
                     client_options: dict[str, Any]) -> list[str]:
    db = Database.connect(server.uri, "durability", **client_options)
    acked: list[str] = []
    crashed = asyncio.Event()
    try:
        writer = asyncio.create_task(_write_until_killed(db, prefix, acked, crashed))
        deadline = time.monotonic() + 30
        while len(acked) < WARM_UP_WRITES and not writer.done():
            assert time.monotonic() < deadline, "the writer made no progress"
            await asyncio.sleep(0.001)
        await asyncio.sleep(rng.uniform(0.002, WINDOW_SECONDS))
        await asyncio.to_thread(server.kill)  # SIGKILL, as a crash
        crashed.set()
        await asyncio.wait_for(writer, 30)
    finally:
        await db.close()
    return acked


async def run_rounds(storage: Path, *, rounds: int = ROUNDS, durable: bool = True,
                     seed: int = 8) -> Outcome:
    """Crash the database `rounds` times under a writer; count acknowledged inserts that
    are missing after each restart. `durable=False`: the server without --sync-on-commit
    and the client without `j` (the configuration before issue 8)."""
    started = time.monotonic()
    rng = random.Random(seed)
    client_options: dict[str, Any] = {} if durable else {"journal": False}
    outcome = Outcome()
    server = EmbeddedServer(storage, sync_on_commit=durable)
    server.start()
    try:
        for round_no in range(rounds):
            acked = await _one_round(server, f"r{round_no}", rng, client_options)
            server = EmbeddedServer(storage, sync_on_commit=durable)
            server.start()  # recovery from the same files
            db = Database.connect(server.uri, "durability", **client_options)
            try:
                found = {d["_id"] async for d in db.db["writes"].find(
                    {"_id": {"$gte": f"r{round_no}-", "$lt": f"r{round_no}."}}, {"_id": 1})}
            finally:
                await db.close()
            lost = [_id for _id in acked if _id not in found]
            outcome.acknowledged += len(acked)
            outcome.lost += lost
            outcome.per_round.append((len(acked), len(lost)))
    finally:
        server.stop()
    outcome.seconds = time.monotonic() - started
    return outcome


async def test_every_acknowledged_insert_survives_a_crash_of_the_database(
        tmp_path: Path) -> None:
    outcome = await run_rounds(tmp_path / "db")
    print(f"durable: {outcome.acknowledged} acknowledged over {ROUNDS} crashes, "
          f"{len(outcome.lost)} lost, per round {outcome.per_round}, "
          f"{outcome.seconds:.1f} s")
    assert outcome.acknowledged >= ROUNDS * WARM_UP_WRITES
    assert not outcome.lost, f"{len(outcome.lost)} acknowledged inserts lost: " \
        f"{outcome.lost[:10]}"


async def test_the_service_client_journals_its_writes_unless_the_uri_says_otherwise() -> None:
    base = "mongodb://127.0.0.1:9/?directConnection=true&retryWrites=false"  # never contacted
    for uri, expected in ((base, {"j": True}),
                          (base + "&journal=false", {"j": False}),
                          (base + "&w=0", {"w": 0}),
                          (base + "&w=majority", {"w": "majority", "j": True})):
        db = Database.connect(uri, "durability")
        try:
            assert db.db.write_concern.document == expected, uri
            assert db.transactions.write_concern.document == expected, uri
        finally:
            await db.close()


def _compare(rounds: int) -> None:  # pragma: no cover - run by hand, see the docstring
    for durable in (False, True):
        with tempfile.TemporaryDirectory() as work:
            outcome = asyncio.run(run_rounds(Path(work) / "db", rounds=rounds,
                                             durable=durable))
        label = "durable (default)" if durable else "before issue 8  "
        print(f"{label}: {outcome.acknowledged:,} acknowledged over {rounds} crashes, "
              f"{len(outcome.lost):,} lost; per round (acked, lost) {outcome.per_round}; "
              f"{outcome.seconds:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(KeyboardInterrupt):
        _compare(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
