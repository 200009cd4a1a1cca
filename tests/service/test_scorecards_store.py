"""Scorecard use cases against the real server: templates, recording, the engine's lookup."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from bson import Decimal128

from domain.errors import Conflict, ValidationFailed
from domain.periods import PeriodKind
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms
from domain.scorecards import Kpi, KpiDirection, ScoreBand
from domain.tiers import RateKind, RebateBasis, Tier, TierMode
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import scorecards as scorecard_repo
from service.usecases.dealers import upsert_dealer
from service.usecases.programs import create_program
from service.usecases.scorecards import create_scorecard_template, record_scorecard
from tests.conftest import COMMANDS

SALES = Principal(sub="sales-test", role=Role.SALES)
ADMIN = Principal(sub="admin-test", role=Role.ADMIN)
D = Decimal
KPIS = [Kpi("VOLUME", "Volume", D("60"), D("100"), KpiDirection.HIGHER_IS_BETTER),
        Kpi("COMPLAINTS", "Complaints", D("40"), D("5"), KpiDirection.LOWER_IS_BETTER)]
BANDS = [ScoreBand(D("50"), D("0.5")), ScoreBand(D("90"), D("1"))]


def problems_of(error: ValidationFailed) -> set[tuple[tuple[str, ...], str]]:
    return {(p.field, p.code) for p in error.problems}


@pytest.fixture(scope="module", autouse=True)
async def dataset(deps: Deps) -> None:
    for code in ["S1", "S2", "S3"]:
        await upsert_dealer(deps, ADMIN, code=code, name=code)
    await create_scorecard_template(deps, SALES, code="SC", name="Scorecard", kpis=KPIS,
                                    bands=BANDS)


async def test_indexes_keep_template_codes_and_scorecard_keys_unique(deps: Deps) -> None:
    templates = {i["name"]: i async for i in await deps.db.scorecard_templates.list_indexes()}
    cards = {i["name"]: i async for i in await deps.db.scorecards.list_indexes()}
    assert templates["code_unique"]["unique"] and cards["key_unique"]["unique"]


async def test_a_template_code_is_taken_once_and_the_refusal_changes_nothing(
        deps: Deps) -> None:
    events = await deps.db.audit_events.count_documents({"action": "createScorecardTemplate"})
    with pytest.raises(Conflict) as raised:
        await create_scorecard_template(deps, ADMIN, code=" SC ", name="Again", kpis=KPIS,
                                        bands=BANDS)
    assert raised.value.problems[0].field == ("input", "code")
    kept = await scorecard_repo.get_template(deps.db, "SC")
    assert kept is not None and kept.name == "Scorecard"
    assert await deps.db.audit_events.count_documents(
        {"action": "createScorecardTemplate"}) == events


async def test_decimals_of_a_template_round_trip_as_decimal128(deps: Deps) -> None:
    plain = deps.db.client.get_database(deps.db.db.name)  # no Decimal codec: raw BSON types
    raw = await plain["scorecard_templates"].find_one({"code": "SC"})
    stored = await scorecard_repo.get_template(deps.db, "SC")
    assert stored is not None and stored.kpis == tuple(KPIS) and stored.bands == tuple(BANDS)
    assert raw is not None and isinstance(raw["kpis"][0]["weight"], Decimal128)


async def test_programs_accept_a_stored_template_and_refuse_an_unknown_one(deps: Deps) -> None:
    rules = ProgramRules(
        code="SCP", name="SCP", basis=RebateBasis.SALES_AMOUNT, rate_kind=RateKind.PERCENT,
        tier_mode=TierMode.RETROACTIVE, period_kind=PeriodKind.QUARTER,
        accumulation=Accumulation.PER_PERIOD, valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31), currency="CNY",
        terms=(Terms(None, (Tier(D(0), D(1)),)),), payout_form=PayoutForm.CASH,
        scorecard_template_code="SC")
    await create_program(deps, ADMIN, rules, activate=True)
    with pytest.raises(ValidationFailed) as raised:
        await create_program(deps, ADMIN, replace(rules, code="SCQ",
                                                  scorecard_template_code="NOPE"))
    assert problems_of(raised.value) == {(("input", "scorecardTemplateCode"), "NOT_FOUND")}


async def test_recording_scores_stores_audits_and_marks_the_accruals_to_release(
        deps: Deps) -> None:
    card = await record_scorecard(deps, SALES, " S1 ", "SC", "2026-Q3",
                                  [("VOLUME", D("80")), ("COMPLAINTS", D("10"))])
    # 60 × 80 / 100 + 40 × 50 / 100 = 48 + 20 = 68 → band 50 → 0.5
    assert (card.sheet.score, card.sheet.multiplier) == (D("68.00"), D("0.5"))
    stored = await scorecard_repo.get(deps.db, "S1", "SC", "2026-Q3")
    assert stored == card
    event = await deps.db.audit_events.find_one({"action": "recordScorecard"})
    assert event is not None and event["entityId"] == "S1:SC:2026-Q3"
    assert event["before"] is None and event["after"]["score"] == "68.00"
    job = await deps.db.accrual_jobs.find_one({"dealerCode": "S1", "programCode": "SCP"})
    assert job is not None and job["dirty"] and job["periods"] == ["2026-Q3"]


async def test_recording_again_replaces_the_scorecard_and_audits_before_and_after(
        deps: Deps) -> None:
    await record_scorecard(deps, SALES, "S2", "SC", "2026-Q3",
                           [("VOLUME", D("100")), ("COMPLAINTS", D("5"))])
    again = await record_scorecard(deps, ADMIN, "S2", "SC", "2026-Q3",
                                   [("VOLUME", D("90")), ("COMPLAINTS", D("5"))])
    assert (again.sheet.score, again.sheet.multiplier) == (D("94.00"), D("1"))
    assert await deps.db.scorecards.count_documents({"dealerCode": "S2"}) == 1
    events = await deps.db.audit_events.find(
        {"entityType": "Scorecard", "entityId": "S2:SC:2026-Q3"}).sort("_id", 1).to_list()
    assert [e["role"] for e in events] == ["SALES", "ADMIN"]
    assert events[1]["before"]["score"] == "100.00"
    assert events[1]["after"]["score"] == "94.00"


async def test_every_problem_of_a_recording_is_reported_at_once_and_nothing_stored(
        deps: Deps) -> None:
    count = await deps.db.scorecards.count_documents({})
    with pytest.raises(ValidationFailed) as raised:
        await record_scorecard(deps, SALES, "NOBODY", "NOPE", "2026-Q5", [])
    assert problems_of(raised.value) == {(("input", "dealerCode"), "NOT_FOUND"),
                                         (("input", "templateCode"), "NOT_FOUND"),
                                         (("input", "period"), "INVALID")}
    with pytest.raises(ValidationFailed) as raised:
        await record_scorecard(deps, SALES, "S3", "SC", "2027-Q1",
                               [("VOLUME", D("1")), ("VOLUME", D("-1"))])
    assert problems_of(raised.value) == {(("input", "period"), "INVALID"),
                                         (("input", "values", "1", "kpiCode"), "INVALID"),
                                         (("input", "values", "1", "actual"), "INVALID"),
                                         (("input", "values"), "INVALID")}
    assert await deps.db.scorecards.count_documents({}) == count


async def test_results_for_many_dealers_cost_one_query(deps: Deps) -> None:
    await record_scorecard(deps, SALES, "S3", "SC", "2026-Q2",
                           [("VOLUME", D("100")), ("COMPLAINTS", D("0"))])
    before = COMMANDS.counts[deps.db.db.name]
    found = await scorecard_repo.results_for(deps.db, "SC", "2026-Q3",
                                             ["S1", "S2", "S3", "NOBODY"])
    assert COMMANDS.counts[deps.db.db.name] - before == 1
    assert {code: (r.score, r.multiplier) for code, r in found.items()} == {
        "S1": (D("68.00"), D("0.5")), "S2": (D("94.00"), D("1"))}
