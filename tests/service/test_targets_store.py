"""Targets against the real server: what the engine reads, what gets marked, and a batch
whose call stopped half-way completed by the recovery pass without undoing a newer write."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from bson import ObjectId

from domain.errors import ValidationFailed
from domain.periods import PeriodKind
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms
from domain.tiers import RateKind, RebateBasis, Tier, TierMode
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import pending
from service.repositories import targets as target_repo
from service.usecases import recovery
from service.usecases.dealers import upsert_dealer
from service.usecases.programs import create_program
from service.usecases.targets import TargetRow, set_targets

SALES = Principal(sub="targets-test", role=Role.SALES)
ADMIN = Principal(sub="targets-admin", role=Role.ADMIN)
D = Decimal
LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def rules(code: str, accumulation: Accumulation, kind: PeriodKind = PeriodKind.QUARTER,
          ) -> ProgramRules:
    return ProgramRules(
        code=code, name=code, basis=RebateBasis.SALES_AMOUNT, rate_kind=RateKind.PERCENT,
        tier_mode=TierMode.RETROACTIVE, period_kind=kind, accumulation=accumulation,
        valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2026, 12, 31), currency="CNY",
        terms=(Terms(None, (Tier(D(0), D(2)),)),), payout_form=PayoutForm.CASH)


@pytest.fixture(scope="module", autouse=True)
async def dataset(deps: Deps) -> None:
    for code in ("S1", "S2", "S3"):
        await upsert_dealer(deps, ADMIN, code=code, name=code)
    await create_program(deps, ADMIN, rules("SQ", Accumulation.PER_PERIOD), activate=True)
    await create_program(deps, ADMIN, rules("SY", Accumulation.YEAR_TO_DATE), activate=True)
    await create_program(deps, ADMIN, rules("SM", Accumulation.PER_PERIOD, PeriodKind.MONTH))


async def marked(deps: Deps, dealer: str, program: str) -> set[str]:
    job = await deps.db.accrual_jobs.find_one({"dealerCode": dealer, "programCode": program})
    return set(job["periods"]) if job else set()


async def test_targets_for_answers_by_dealer_and_period(deps: Deps) -> None:
    await set_targets(deps, SALES, "SQ", [TargetRow("S1", "2026-Q1", D("100")),
                                          TargetRow("S1", "2026-Q2", D("120")),
                                          TargetRow("S2", "2026-Q1", D("50.5"))])
    everyone = await target_repo.targets_for(deps.db, "SQ", None, ["2026-Q1", "2026-Q2"])
    assert everyone == {("S1", "2026-Q1"): D("100"), ("S1", "2026-Q2"): D("120"),
                        ("S2", "2026-Q1"): D("50.5")}
    assert await target_repo.targets_for(deps.db, "SQ", ["S2", "S3"], ["2026-Q1"]) == {
        ("S2", "2026-Q1"): D("50.5")}
    assert await target_repo.targets_for(deps.db, "SQ", [], ["2026-Q1"]) == {}
    assert await target_repo.targets_for(deps.db, "SQ", None, []) == {}


async def test_a_per_period_target_marks_its_own_period_only(deps: Deps) -> None:
    await set_targets(deps, SALES, "SQ", [TargetRow("S3", "2026-Q2", D("10"))])
    assert await marked(deps, "S3", "SQ") == {"2026-Q2"}


async def test_a_year_to_date_target_marks_its_period_and_every_later_one(deps: Deps) -> None:
    await set_targets(deps, SALES, "SY", [TargetRow("S3", "2026-Q2", D("10"))])
    assert await marked(deps, "S3", "SY") == {"2026-Q2", "2026-Q3", "2026-Q4"}


async def test_a_draft_programs_targets_mark_nothing_and_follow_its_period_kind(
        deps: Deps) -> None:
    result = await set_targets(deps, SALES, "SM", [TargetRow("S3", " 2026-03 ", D("10"))])
    assert [t.period for t in result.targets] == ["2026-03"]
    assert await marked(deps, "S3", "SM") == set()
    with pytest.raises(ValidationFailed) as refused:
        await set_targets(deps, SALES, "SM", [TargetRow("S3", "2026-Q1", D("10"))])
    assert [p.field for p in refused.value.problems] == [("input", "targets", "0", "period")]


async def test_a_stopped_batch_is_completed_and_a_newer_write_survives(deps: Deps) -> None:
    """The state a call killed after its batch document leaves (targets.after_write is the
    subprocess version): recovery writes the batch's rows, except one a later call set."""
    now = deps.now() - dt.timedelta(seconds=1)  # the stopped call began earlier
    rows = [target_repo.row_doc("S1", "2026-Q3", D("300"), None, ObjectId()),
            target_repo.row_doc("S2", "2026-Q3", D("310"), None, ObjectId())]
    mark = pending.marker(now, SALES, rows=2)
    await target_repo.begin_batch(deps.db, "b-stopped", program_code="SY", rows=rows,
                                  pending=mark)
    await target_repo.write(deps.db, "SY", rows[:1], actor=SALES.sub, now=now)  # half done
    # a later call (which began after the stopped one) set S2's target meanwhile
    await target_repo.write(deps.db, "SY", [target_repo.row_doc("S2", "2026-Q3", D("999"),
                                                                None, ObjectId())],
                            actor=ADMIN.sub, now=deps.now())

    assert await recovery.recover(deps, older_than=LATER) >= 1
    found = await target_repo.targets_for(deps.db, "SY", ["S1", "S2"], ["2026-Q3"])
    assert found == {("S1", "2026-Q3"): D("300"), ("S2", "2026-Q3"): D("999")}
    batch = await deps.db.target_batches.find_one({"_id": "b-stopped"})
    assert batch is not None and pending.FIELD not in batch
    events = await deps.db.audit_events.count_documents(
        {"_id": {"$in": [r["eventId"] for r in rows]}})
    assert events == 2
    assert await marked(deps, "S1", "SY") >= {"2026-Q3", "2026-Q4"}
    await recovery.recover(deps, older_than=LATER)  # again: nothing more happens
    assert await deps.db.audit_events.count_documents(
        {"_id": {"$in": [r["eventId"] for r in rows]}}) == 2


async def test_a_resend_finishes_a_stopped_batch_of_its_program_at_once(deps: Deps) -> None:
    rows = [target_repo.row_doc("S3", "2026-Q4", D("40"), None, ObjectId())]
    await target_repo.begin_batch(deps.db, "b-resend", program_code="SQ", rows=rows,
                                  pending=pending.marker(deps.now(), SALES, rows=1))
    again = await set_targets(deps, SALES, "SQ", [TargetRow("S3", "2026-Q4", D("40"))])
    assert again.changed == 0  # the stopped call's batch already stored it
    batch = await deps.db.target_batches.find_one({"_id": "b-resend"})
    assert batch is not None and pending.FIELD not in batch
    assert await deps.db.audit_events.count_documents({"_id": rows[0]["eventId"]}) == 1
