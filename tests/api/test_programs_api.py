"""Programs: validation, roles (SALES drafts, ADMIN/FINANCE activate), versions, retirement."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.engine_helpers import (
    accruals,
    create_program,
    dealer,
    program_input,
    record,
    row,
    wait_for,
)
from tests.conftest import Api

UPDATE = """mutation($input: ProgramInput!) { updateProgram(input: $input) {
    program { code version status } userErrors { field message code } } }"""


@pytest.fixture(scope="module", autouse=True)
def setup(api: Api) -> None:
    dealer(api, "P1", channel="KA")
    dealer(api, "P2", channel="RETAIL")
    api.gql('mutation { upsertSegment(input: {code: "GOLD", name: "Gold", priority: 1, '
            'rule: {channels: ["KA"]}}) { userErrors { message } } }')


def errors_of(result: dict[str, Any]) -> set[tuple[tuple[str, ...], str]]:
    return {(tuple(e["field"]), e["code"]) for e in result["userErrors"]}


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"terms": [{"tiers": [{"threshold": "100", "rate": "1"},
                           {"threshold": "50", "rate": "2"}]}]},
     {(("input", "terms", "0", "tiers", "1", "threshold"), "INVALID")}),
    ({"terms": [{"tiers": [{"threshold": "-1", "rate": "1"}]}]},
     {(("input", "terms", "0", "tiers", "0", "threshold"), "INVALID")}),
    ({"terms": [{"tiers": [{"threshold": "0", "rate": "-1"}]}]},
     {(("input", "terms", "0", "tiers", "0", "rate"), "INVALID")}),
    ({"rateKind": "PER_UNIT"}, {(("input", "rateKind"), "INVALID")}),
    ({"validTo": "2025-12-31"}, {(("input", "validTo"), "INVALID")}),
    ({"terms": [{"segmentCode": "NOPE", "tiers": [{"threshold": "0", "rate": "1"}]}]},
     {(("input", "terms", "0", "segmentCode"), "NOT_FOUND")}),
    ({"scorecardTemplateCode": "NO-TEMPLATE"},
     {(("input", "scorecardTemplateCode"), "NOT_FOUND")}),
    ({"terms": []}, {(("input", "terms"), "INVALID")}),
    ({"terms": [{"tiers": [{"threshold": "0", "rate": "1"}]},
                {"tiers": [{"threshold": "0", "rate": "2"}]}]},
     {(("input", "terms", "1", "segmentCode"), "INVALID")}),
    ({"currency": "yuan"}, {(("input", "currency"), "INVALID")}),
    ({"taxRate": "101"}, {(("input", "taxRate"), "INVALID")}),
])
def test_invalid_programs_are_refused_with_the_field_and_nothing_stored(
        api: Api, overrides: dict[str, Any], expected: set[Any]) -> None:
    result = create_program(api, "BAD", **overrides)
    assert result["program"] is None
    assert errors_of(result) == expected
    assert api.gql('{ program(code: "BAD") { code } }')["program"] is None


def test_all_program_problems_come_back_together(api: Api) -> None:
    result = create_program(api, "", name="", rateKind="PER_UNIT", validTo="2025-01-01",
                            terms=[{"tiers": [{"threshold": "5", "rate": "1"},
                                              {"threshold": "5", "rate": "1"}]}])
    fields = {f for f, _ in errors_of(result)}
    assert {("input", "code"), ("input", "name"), ("input", "rateKind"),
            ("input", "validTo"), ("input", "terms", "0", "tiers", "1", "threshold")} <= fields


def test_sales_prepares_a_draft_and_finance_approves_it(api: Api) -> None:
    draft = create_program(api, "DRAFTY", role="SALES", activate=None)
    assert draft["userErrors"] == [] and draft["program"]["status"] == "DRAFT"
    refused = api.post("""mutation($input: ProgramInput!) { createProgram(input: $input) {
        userErrors { code } } }""", {"input": program_input("SALES-LIVE")}, role="SALES")
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    edited = api.gql(UPDATE, {"input": program_input("DRAFTY", name="Renamed", activate=None)},
                     role="SALES")["updateProgram"]
    assert edited["program"] == {"code": "DRAFTY", "version": 1, "status": "DRAFT"}
    approved = api.gql('mutation { activateProgram(input: {code: "DRAFTY"}) { '
                       'program { status version } userErrors { code } } }',
                       role="FINANCE")["activateProgram"]
    assert approved["program"] == {"status": "ACTIVE", "version": 1}
    locked = api.post(UPDATE, {"input": program_input("DRAFTY", activate=None)}, role="SALES")
    assert locked.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_dealer_does_not_see_drafts_or_programs_without_terms_for_it(api: Api) -> None:
    create_program(api, "GOLD-ONLY", terms=[{"segmentCode": "GOLD",
                                             "tiers": [{"threshold": "0", "rate": "5"}]}])
    create_program(api, "HIDDEN-DRAFT", activate=None)
    seen_by_p1 = {p["code"] for p in api.gql("{ programs { code } }", role="DEALER",
                                             dealer="P1")["programs"]}
    seen_by_p2 = {p["code"] for p in api.gql("{ programs { code } }", role="DEALER",
                                             dealer="P2")["programs"]}
    assert "GOLD-ONLY" in seen_by_p1 and "GOLD-ONLY" not in seen_by_p2
    assert "HIDDEN-DRAFT" not in seen_by_p1 | seen_by_p2
    assert api.gql('{ program(code: "GOLD-ONLY") { code } }', role="DEALER",
                   dealer="P2") == {"program": None}


def test_an_active_program_keeps_what_its_accruals_mean(api: Api) -> None:
    create_program(api, "FIXEDPART")
    result = api.gql(UPDATE, {"input": program_input(
        "FIXEDPART", periodKind="MONTH", currency="USD", activate=None)})["updateProgram"]
    assert errors_of(result) == {(("input", "periodKind"), "LOCKED"),
                                 (("input", "currency"), "LOCKED")}


def test_a_retired_program_is_not_edited_and_no_longer_accrues(api: Api) -> None:
    create_program(api, "OLD")
    retired = api.gql('mutation { retireProgram(input: {code: "OLD"}) { '
                      'program { status } userErrors { code } } }')["retireProgram"]
    assert retired["program"] == {"status": "RETIRED"}
    again = api.gql(UPDATE, {"input": program_input("OLD", activate=None)})["updateProgram"]
    assert errors_of(again) == {(("input", "code"), "LOCKED")}
    run = api.gql('mutation { runAccruals(input: {programCode: "OLD", period: "2026-Q1"}) '
                  '{ userErrors { field code } } }')["runAccruals"]
    assert run["userErrors"] == [{"field": ["input", "programCode"], "code": "INVALID"}]


def test_activating_a_program_accrues_the_sales_already_recorded(api: Api) -> None:
    record(api, [row("act-1", "P2", "INVOICE", "2026-05-05", "2000")])
    create_program(api, "LATECOMER", activate=None,
                   terms=[{"tiers": [{"threshold": "0", "rate": "1.5"}]}])
    assert accruals(api, programCode="LATECOMER") == []
    api.gql('mutation { activateProgram(input: {code: "LATECOMER"}) { userErrors { code } } }')
    wait_for(lambda: [(a["dealer"]["code"], a["period"], a["grossAmount"]) for a in
                      accruals(api, programCode="LATECOMER", dealerCode="P2")]
             == [("P2", "2026-Q2", "30.00")])


def test_every_program_change_is_audited(api: Api) -> None:
    events = api.gql('{ auditEvents(entityType: "Program", entityId: "DRAFTY") '
                     '{ edges { node { action role } } } }')["auditEvents"]["edges"]
    assert [e["node"]["action"] for e in events] == ["activateProgram", "updateProgram",
                                                     "createProgram"]
