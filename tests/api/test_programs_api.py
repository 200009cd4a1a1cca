"""Programs: validation, roles (SALES drafts, ADMIN/FINANCE activate), versions, retirement."""
from __future__ import annotations

from typing import Any

import pytest

from schema.relay import to_global_id
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


# ---- ids: `id` names the program whatever its version, `versionId` one version ------------

NODE = """query($id: ID!) { node(id: $id) { id ... on Program { versionId code version name
    status } } }"""
IDS = "program { id versionId version status } userErrors { code }"


def _ids(api: Api, code: str) -> dict[str, Any]:
    found: dict[str, Any] = api.gql(f'{{ program(code: "{code}") {{ id versionId version '
                                    'status } }')["program"]
    return found


def test_a_program_keeps_its_id_through_new_versions_activation_and_retirement(
        api: Api) -> None:
    draft = api.gql(f"""mutation($input: ProgramInput!) {{ createProgram(input: $input) {{
        {IDS} }} }}""", {"input": program_input("STABLE", activate=None)}
                    )["createProgram"]["program"]
    first = _ids(api, "STABLE")
    assert first["status"] == "DRAFT" and first["id"] == to_global_id("Program", "STABLE")
    activated = api.gql(f'mutation {{ activateProgram(input: {{code: "STABLE"}}) {{ {IDS} }} }}'
                        )["activateProgram"]["program"]
    edited = api.gql(f"""mutation($input: ProgramInput!) {{ updateProgram(input: $input) {{
        {IDS} }} }}""", {"input": program_input("STABLE", name="Stable v2", activate=None)}
                     )["updateProgram"]["program"]
    retired = api.gql(f'mutation {{ retireProgram(input: {{code: "STABLE"}}) {{ {IDS} }} }}'
                      )["retireProgram"]["program"]
    assert (activated["version"], edited["version"]) == (1, 2)
    assert {p["id"] for p in (draft, first, activated, edited, retired)} == {first["id"]}
    assert first["versionId"] == activated["versionId"] != edited["versionId"]
    assert edited["versionId"] == retired["versionId"]


def test_the_stable_id_finds_the_current_version_and_a_version_id_its_own(api: Api) -> None:
    create_program(api, "VERSIONED")
    v1 = _ids(api, "VERSIONED")
    api.gql(UPDATE, {"input": program_input("VERSIONED", name="Second", activate=None)})
    v2 = _ids(api, "VERSIONED")
    assert v1["id"] == v2["id"] and v2["version"] == 2
    current = api.gql(NODE, {"id": v2["id"]})["node"]
    assert (current["id"], current["versionId"], current["version"], current["name"]) == \
        (v2["id"], v2["versionId"], 2, "Second")
    # what a CRM cached before: the id of version 1 (the old id format) still resolves to it
    old = api.gql(NODE, {"id": v1["versionId"]})["node"]
    assert (old["id"], old["versionId"], old["version"], old["name"]) == \
        (v1["id"], v1["versionId"], 1, "Program VERSIONED")
    assert v1["versionId"] == to_global_id("Program", "VERSIONED:1")
    for key in ("VERSIONED:3", "VERSIONED:x", "VERSIONED:", "NOPE", ":1"):
        assert api.gql(NODE, {"id": to_global_id("Program", key)}) == {"node": None}, key


def test_an_accrual_names_its_program_by_the_stable_id_and_its_version(api: Api) -> None:
    record(api, [row("ids-1", "P1", "INVOICE", "2026-02-02", "1000")])
    create_program(api, "ACCRUED")
    wait_for(lambda: len(accruals(api, programCode="ACCRUED", dealerCode="P1")) == 1)
    v1 = _ids(api, "ACCRUED")
    api.gql(UPDATE, {"input": program_input("ACCRUED", name="Edited", activate=None)})
    found = api.gql("""{ accruals(filter: {programCode: "ACCRUED", period: "2026-Q1"}) {
        edges { node { programVersion program { id versionId version } } } } }""")
    [accrual] = [e["node"] for e in found["accruals"]["edges"]]
    assert accrual["program"] == {"id": v1["id"], "versionId": v1["versionId"], "version": 1}


def test_a_dealer_finds_by_either_id_only_programs_it_may_see(api: Api) -> None:
    create_program(api, "GOLD-IDS", terms=[{"segmentCode": "GOLD",
                                            "tiers": [{"threshold": "0", "rate": "5"}]}])
    gold = _ids(api, "GOLD-IDS")
    for global_id in (gold["id"], gold["versionId"]):
        seen = api.gql(NODE, {"id": global_id}, role="DEALER", dealer="P1")["node"]
        assert (seen["id"], seen["code"]) == (gold["id"], "GOLD-IDS")
        assert api.gql(NODE, {"id": global_id}, role="DEALER", dealer="P2") == {"node": None}
