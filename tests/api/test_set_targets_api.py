"""setTargets and Dealer.targets over GraphQL, as a CRM or a sales manager would call them."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from service.config import Settings
from tests.api.control_helpers import close
from tests.api.engine_helpers import create_program, dealer, wait_for
from tests.conftest import Api

SET_TARGETS = """mutation($input: SetTargetsInput!) { setTargets(input: $input) {
  targets { dealer { code } program { code } period amount } changed
  userErrors { field code message } } }"""
DEALER_TARGETS = """query($code: String!, $program: String) { dealer(code: $code) {
  code targets(programCode: $program) { period amount dealer { code } program { code } } } }"""

Q = "TQ"  # quarterly, per period
YTD = "TY"  # quarterly, year to date
UNITS = "TU"  # quantity basis


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> None:
    for code in ("T1", "T2", "T3"):
        dealer(api, code)
    assert create_program(api, Q)["userErrors"] == []
    assert create_program(api, YTD, accumulation="YEAR_TO_DATE")["userErrors"] == []
    assert create_program(api, UNITS, basis="QUANTITY", rateKind="PER_UNIT")["userErrors"] == []


@pytest.fixture(scope="module")
def db(settings: Settings) -> Iterator[Database[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongodb_uri)
    try:
        yield client[settings.database]
    finally:
        client.close()


def set_targets(api: Api, program: str, rows: list[tuple[str, str, str]], *,
                role: str = "SALES", **options: Any) -> dict[str, Any]:
    targets = [{"dealerCode": d, "period": p, "amount": a} for d, p, a in rows]
    return api.gql(SET_TARGETS, {"input": {"programCode": program, "targets": targets}},
                   role=role, **options)["setTargets"]


def stored(api: Api, dealer_code: str, program: str | None = None) -> dict[str, str]:
    found = api.gql(DEALER_TARGETS, {"code": dealer_code, "program": program})["dealer"]
    return {f"{t['program']['code']} {t['period']}": t["amount"] for t in found["targets"]}


@pytest.mark.parametrize("role", ["ADMIN", "SALES", "SERVICE"])
def test_sales_management_and_its_systems_may_set_targets(api: Api, role: str) -> None:
    result = set_targets(api, Q, [("T3", "2026-Q4", f"{len(role)}000")], role=role)
    assert result["userErrors"] == []
    assert result["targets"] == [{"dealer": {"code": "T3"}, "program": {"code": Q},
                                  "period": "2026-Q4", "amount": f"{len(role)}000"}]


@pytest.mark.parametrize("role", ["FINANCE", "DEALER"])
def test_finance_and_dealers_may_not_set_targets(api: Api, role: str) -> None:
    body = api.post(SET_TARGETS, {"input": {"programCode": Q, "targets": [
        {"dealerCode": "T1", "period": "2026-Q1", "amount": "1"}]}},
                    role=role, dealer="T1" if role == "DEALER" else None).json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert "Q 2026-Q1" not in str(stored(api, "T1"))


def test_every_bad_row_is_reported_by_index_and_nothing_is_stored(api: Api) -> None:
    result = set_targets(api, Q, [
        ("T1", "2026-Q1", "500000"),   # 0: fine on its own
        ("T2", "2026-Q1", "0"),        # 1: not positive
        ("NOBODY", "2026-Q2", "10"),   # 2: unknown dealer
        ("T1", "2026-03", "10"),       # 3: a month in a quarterly program
        ("T1", "2027-Q1", "10"),       # 4: outside the validity
        ("T2", "2026-Q2", "1.005"),    # 5: money with 3 decimals
        ("T1", "2026-Q1", "600000"),   # 6: row 0 already sets T1 2026-Q1
        ("T 1", "Q1", "-5"),           # 7: three things at once
    ])
    assert result["targets"] == [] and result["changed"] == 0
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
        (["input", "targets", "1", "amount"], "INVALID"),
        (["input", "targets", "2", "dealerCode"], "NOT_FOUND"),
        (["input", "targets", "3", "period"], "INVALID"),
        (["input", "targets", "4", "period"], "INVALID"),
        (["input", "targets", "5", "amount"], "INVALID"),
        (["input", "targets", "6"], "CONFLICT"),
        (["input", "targets", "7", "dealerCode"], "INVALID"),
        (["input", "targets", "7", "period"], "INVALID"),
        (["input", "targets", "7", "amount"], "INVALID"),
    ]
    messages = {tuple(e["field"]): e["message"] for e in result["userErrors"]}
    assert messages[("input", "targets", "1", "amount")] == "must be greater than 0"
    assert messages[("input", "targets", "2", "dealerCode")] == "no dealer with code 'NOBODY'"
    assert messages[("input", "targets", "6")] == \
        "row 0 already sets the target of T1 for 2026-Q1"
    assert "2027-Q1" in messages[("input", "targets", "4", "period")]
    assert stored(api, "T1", Q) == {} and stored(api, "T2", Q) == {}


def test_messages_follow_the_callers_language(api: Api) -> None:
    result = set_targets(api, Q, [("T2", "2026-Q1", "0")],
                         headers={"accept-language": "zh-CN"})
    assert [e["message"] for e in result["userErrors"]] == ["必须大于 0"]


def test_an_unknown_program_is_named(api: Api) -> None:
    result = set_targets(api, "NO-SUCH", [("T1", "2026-Q1", "10")])
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
        (["input", "programCode"], "NOT_FOUND")]


def test_a_quantity_target_is_in_units_and_may_be_fractional(api: Api) -> None:
    result = set_targets(api, UNITS, [("T1", "2026-Q1", "1250.125")])
    assert result["userErrors"] == []
    assert stored(api, "T1", UNITS) == {"TU 2026-Q1": "1250.125"}


def test_targets_differ_by_period_and_setting_again_changes_nothing(
        api: Api, db: Database[dict[str, Any]]) -> None:
    rows = [("T1", "2026-Q1", "400000"), ("T1", "2026-Q2", "650000"),
            ("T2", "2026-Q1", "90000.50")]
    first = set_targets(api, YTD, rows)
    assert (first["userErrors"], first["changed"]) == ([], 3)
    assert stored(api, "T1", YTD) == {"TY 2026-Q1": "400000", "TY 2026-Q2": "650000"}
    events = db.audit_events.count_documents({"entityType": "Target"})

    again = set_targets(api, YTD, [("T1", "2026-Q1", "400000.00"), ("T2", "2026-Q1", "90000.5")])
    assert (again["userErrors"], again["changed"]) == ([], 0)
    assert [t["amount"] for t in again["targets"]] == ["400000", "90000.50"]  # as stored
    assert db.audit_events.count_documents({"entityType": "Target"}) == events
    assert db.target_batches.count_documents({"pending": {"$exists": True}}) == 0

    changed = set_targets(api, YTD, [("T1", "2026-Q2", "700000")])
    assert changed["changed"] == 1
    event = db.audit_events.find_one({"entityType": "Target", "entityId": "TY:T1:2026-Q2"},
                                     sort=[("_id", -1)])
    assert event is not None
    assert (event["action"], event["before"], event["after"], event["dealerCode"]) == (
        "setTargets", {"amount": "650000"}, {"amount": "700000"}, "T1")


def test_a_changed_target_marks_the_accruals_for_the_worker(
        api: Api, db: Database[dict[str, Any]]) -> None:
    job = db.accrual_jobs.find_one({"dealerCode": "T3", "programCode": YTD})
    version = job["version"] if job else 0
    assert set_targets(api, YTD, [("T3", "2026-Q2", "1000")])["changed"] == 1
    job = db.accrual_jobs.find_one({"dealerCode": "T3", "programCode": YTD})
    assert job is not None and job["version"] > version
    wait_for(lambda: api.gql("{ accrualBacklog }")["accrualBacklog"] == 0)


def test_a_closed_periods_target_is_locked(api: Api) -> None:
    assert create_program(api, "TL")["userErrors"] == []
    assert set_targets(api, "TL", [("T1", "2026-Q1", "100")])["userErrors"] == []
    assert close(api, "TL", "2026-Q1")["userErrors"] == []
    result = set_targets(api, "TL", [("T1", "2026-Q2", "200"), ("T1", "2026-Q1", "150")])
    assert [(e["field"], e["code"], e["message"]) for e in result["userErrors"]] == [
        (["input", "targets", "1", "period"], "LOCKED",
         "2026-Q1 is closed: its target can no longer change")]
    assert stored(api, "T1", "TL") == {"TL 2026-Q1": "100"}  # and Q2 not stored either


def test_at_most_5000_rows_per_call(api: Api) -> None:
    rows = [{"dealerCode": "T1", "period": "2026-Q1", "amount": "1"}] * 5001
    body = api.post(SET_TARGETS, {"input": {"programCode": Q, "targets": rows}}).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at most 5000" in body["errors"][0]["message"]
    within = set_targets(api, Q, [("T1", "2026-Q1", "1")] * 5000)
    assert len(within["userErrors"]) == 4999  # every repeat of row 0, none about the count
    assert within["userErrors"][-1]["field"] == ["input", "targets", "4999"]


def test_a_dealer_reads_only_its_own_targets(api: Api) -> None:
    assert set_targets(api, Q, [("T1", "2026-Q2", "300"), ("T2", "2026-Q2", "400")])[
        "userErrors"] == []
    own = api.gql(DEALER_TARGETS, {"code": "T1", "program": Q}, role="DEALER", dealer="T1")
    assert [(t["period"], t["amount"], t["dealer"]["code"], t["program"]["code"])
            for t in own["dealer"]["targets"]] == [("2026-Q2", "300", "T1", Q)]
    other = api.gql(DEALER_TARGETS, {"code": "T2", "program": Q}, role="DEALER", dealer="T1")
    assert other == {"dealer": None}
    listed = api.gql("{ dealers(first: 10) { edges { node { code targets { amount } } } } }",
                     role="DEALER", dealer="T1")
    assert [e["node"]["code"] for e in listed["dealers"]["edges"]] == ["T1"]


def test_a_page_of_dealers_loads_its_targets_in_one_query(api: Api) -> None:
    query = """{ dealers(first: 10) { edges { node { code
        targets(programCode: "TQ") { period amount program { code } } } } } }"""
    api.gql(query)
    before = api.commands()
    data = api.gql(query)
    used = api.commands() - before
    by_code = {e["node"]["code"]: e["node"]["targets"] for e in data["dealers"]["edges"]}
    assert [t["amount"] for t in by_code["T2"]] == ["400"]
    assert used <= 6, used  # dealers page + count, targets once, programs once


def test_a_dealer_does_not_see_targets_of_a_draft_program(api: Api) -> None:
    assert create_program(api, "TD", activate=False)["program"]["status"] == "DRAFT"
    assert set_targets(api, "TD", [("T1", "2026-Q3", "5")])["userErrors"] == []
    assert "TD 2026-Q3" in stored(api, "T1")
    own = api.gql(DEALER_TARGETS, {"code": "T1", "program": None}, role="DEALER", dealer="T1")
    assert "TD" not in {t["program"]["code"] for t in own["dealer"]["targets"]}
    assert {t["program"]["code"] for t in own["dealer"]["targets"]} >= {Q}
