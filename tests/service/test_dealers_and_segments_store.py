"""Dealer and segment use cases against the real embedded server."""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from domain.errors import Conflict, ValidationFailed
from domain.segments import SegmentRule
from service.auth import Principal, Role
from service.db import Database
from service.deps import Deps
from service.pagination import PageRequest
from service.repositories import audit
from service.repositories import dealers as dealer_repo
from service.usecases.dealers import upsert_dealer
from service.usecases.membership import refresh_dealers
from service.usecases.segments import refresh_segments, upsert_segment

ADMIN = Principal(sub="alice", role=Role.ADMIN)


async def codes_in(deps: Deps, segment: str) -> list[str]:
    page = await dealer_repo.page(deps.db, PageRequest(size=100), segment_code=segment,
                                  status=None, scope=None)
    return [d.code for d in page.items]


async def test_indexes_are_created_idempotently(deps: Deps) -> None:
    await deps.db.ensure_indexes()
    await deps.db.ensure_indexes()
    names = {i["name"] async for i in await deps.db.dealers.list_indexes()}
    assert {"code_unique", "segment_code", "status_code"} <= names


async def test_upsert_creates_then_updates_one_document(deps: Deps) -> None:
    await upsert_dealer(deps, ADMIN, code="U1", name="First", region="EAST")
    stored = await upsert_dealer(deps, ADMIN, code="U1", name="Renamed", region="SOUTH")
    assert (stored.name, stored.region) == ("Renamed", "SOUTH")
    assert await deps.db.dealers.count_documents({"code": "U1"}) == 1


async def test_status_is_kept_when_the_input_omits_it(deps: Deps) -> None:
    from domain.dealers import DealerStatus
    await upsert_dealer(deps, ADMIN, code="ST1", name="S", status=DealerStatus.SUSPENDED)
    again = await upsert_dealer(deps, ADMIN, code="ST1", name="S again")
    assert again.status is DealerStatus.SUSPENDED


async def test_invalid_dealer_stores_nothing_and_audits_nothing(deps: Deps) -> None:
    before = await deps.db.audit_events.count_documents({})
    with pytest.raises(ValidationFailed):
        await upsert_dealer(deps, ADMIN, code="BAD", name="")
    assert await deps.db.dealers.count_documents({"code": "BAD"}) == 0
    assert await deps.db.audit_events.count_documents({}) == before


async def test_decimals_round_trip_as_decimal128(deps: Deps) -> None:
    await upsert_segment(deps, ADMIN, code="BIG", name="Big buyers", priority=900,
                         rule=SegmentRule(min_trailing_sales=Decimal("1000000.10")))
    raw = await deps.db.db.get_collection("segments").with_options(
        codec_options=deps.db.db.codec_options.with_options(type_registry=None)
    ).find_one({"code": "BIG"})
    assert raw is not None
    assert str(type(raw["rule"]["minTrailingSales"]).__name__) == "Decimal128"
    assert str(raw["rule"]["minTrailingSales"]) == "1000000.10"


async def test_segment_membership_follows_rule_list_and_dealer_changes(deps: Deps) -> None:
    await upsert_dealer(deps, ADMIN, code="M1", name="m1", region="WEST", channel="KA")
    await upsert_dealer(deps, ADMIN, code="M2", name="m2", region="WEST", channel="RETAIL")
    await upsert_dealer(deps, ADMIN, code="M3", name="m3", region="NORTH", channel="RETAIL")
    await upsert_segment(deps, ADMIN, code="WEST", name="West", priority=100,
                         rule=SegmentRule(regions=("WEST",)), dealer_codes=["M3"])
    assert await codes_in(deps, "WEST") == ["M1", "M2", "M3"]
    # the dealer moves region: membership follows without touching the segment
    await upsert_dealer(deps, ADMIN, code="M2", name="m2", region="SOUTH", channel="RETAIL")
    assert await codes_in(deps, "WEST") == ["M1", "M3"]
    # the segment's rule changes: members are recomputed
    await upsert_segment(deps, ADMIN, code="WEST", name="West", priority=100,
                         rule=SegmentRule(regions=("WEST",), channels=("RETAIL",)))
    assert await codes_in(deps, "WEST") == []
    await upsert_dealer(deps, ADMIN, code="M4", name="m4", region="WEST", channel="RETAIL")
    assert await codes_in(deps, "WEST") == ["M4"]


async def test_tenure_rule_uses_the_business_date(deps: Deps) -> None:
    await upsert_dealer(deps, ADMIN, code="T1", name="t1", joined_on=dt.date(2021, 11, 20))
    await upsert_dealer(deps, ADMIN, code="T2", name="t2", joined_on=dt.date(2021, 11, 21))
    await upsert_segment(deps, ADMIN, code="FIVE", name="5 years", priority=200,
                         rule=SegmentRule(min_tenure_years=5))
    assert await codes_in(deps, "FIVE") == ["T1"]


async def test_trailing_sales_rule_reads_the_last_twelve_months(deps: Deps) -> None:
    await upsert_dealer(deps, ADMIN, code="TS1", name="ts1")
    await upsert_dealer(deps, ADMIN, code="TS2", name="ts2")
    rows = [  # FIXED_NOW is 2026-11-20: the window is 2025-11-20 .. 2026-11-19
        ("x1", "TS1", "INVOICE", "2026-01-10", "700"),
        ("x2", "TS1", "INVOICE", "2025-11-20", "400"),
        ("x3", "TS1", "RETURN", "2026-02-01", "100"),
        ("x4", "TS2", "INVOICE", "2025-11-19", "5000"),   # a day too early
        ("x5", "TS2", "INVOICE", "2026-11-20", "5000"),   # today: not "before today"
        ("x6", "TS2", "INVOICE", "2026-03-01", "999.99"),
    ]
    await deps.db.transactions.insert_many([
        {"externalId": e, "dealerCode": d, "kind": k, "date": day, "amount": Decimal(a),
         "currency": "CNY"} for e, d, k, day, a in rows])
    await upsert_segment(deps, ADMIN, code="K1000", name="1,000 a year", priority=300,
                         rule=SegmentRule(min_trailing_sales=Decimal("1000")))
    assert "TS1" in await codes_in(deps, "K1000")
    assert "TS2" not in await codes_in(deps, "K1000")
    assert await refresh_dealers(deps, ["TS1", "TS2"]) == []  # nothing moved since
    stored = await dealer_repo.get(deps.db, "TS1")
    assert stored is not None and "K1000" in stored.segment_codes


async def test_duplicate_priority_is_a_conflict_even_when_racing(deps: Deps) -> None:
    results = await asyncio.gather(
        upsert_segment(deps, ADMIN, code="RACE-A", name="a", priority=777),
        upsert_segment(deps, ADMIN, code="RACE-B", name="b", priority=777),
        return_exceptions=True)
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1
    assert isinstance(failures[0], Conflict | ValidationFailed)
    assert await deps.db.segments.count_documents({"priority": 777}) == 1


async def test_every_mutation_is_audited_with_before_and_after(deps: Deps) -> None:
    await upsert_dealer(deps, ADMIN, code="AU1", name="Before")
    await upsert_dealer(deps, Principal(sub="bob", role=Role.SALES), code="AU1", name="After")
    page = await audit.page(deps.db, PageRequest(size=10), entity_type="Dealer",
                            entity_id="AU1")
    assert [e.actor for e in page.items] == ["bob", "alice"]
    newest, oldest = page.items
    assert oldest.before is None and oldest.after["name"] == "Before"
    assert newest.before["name"] == "Before" and newest.after["name"] == "After"
    assert newest.role == "SALES" and newest.action == "upsertDealer"


async def test_refresh_recomputes_every_segment_and_is_audited(deps: Deps) -> None:
    count = await refresh_segments(deps, ADMIN)
    assert count == await deps.db.segments.count_documents({})
    assert await deps.db.audit_events.count_documents({"action": "refreshSegments"}) == 1


async def test_segment_pages_for_many_segments_come_from_one_aggregation(deps: Deps) -> None:
    found = await dealer_repo.pages_by_segment(deps.db, ["WEST", "FIVE", "NOPE"],
                                               PageRequest(size=1), scope=None)
    assert {code: ([d.code for d in page.items], page.total) for code, page in found.items()} \
        == {"WEST": (["M4"], 1), "FIVE": (["T1"], 1)}
    assert "WEST" in found["WEST"].items[0].segment_codes  # the member, not split up


async def test_a_database_that_does_not_answer_is_not_ready() -> None:
    db = Database.connect("mongodb://127.0.0.1:9/?directConnection=true", "nothing",
                          serverSelectionTimeoutMS=300)
    assert await db.ping() is False
    await db.close()


async def test_an_obsolete_index_is_dropped_at_start_up(deps: Deps) -> None:
    """An index an earlier version created and this one does not need is removed (each
    index costs every update of its collection); a second start-up finds nothing to do."""
    from pymongo import ASCENDING, IndexModel

    from service.db import OBSOLETE_INDEXES
    assert "program_period" in OBSOLETE_INDEXES["accruals"]
    await deps.db.accruals.create_indexes([IndexModel(
        [("programCode", ASCENDING), ("period", ASCENDING)], name="program_period")])
    await deps.db.ensure_indexes()
    names = {i["name"] async for i in await deps.db.accruals.list_indexes()}
    assert "program_period" not in names
    assert {"key_unique", "dealer_program"} <= names
    await deps.db.ensure_indexes()  # already gone: no error
